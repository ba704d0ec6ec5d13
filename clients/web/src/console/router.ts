// In-page routes under /console-ui/ (the server answers index.html for any path without a file
// extension, so a reload or a shared link lands on the same view).

export const BASE = '/console-ui/';

export type Route =
  | { view: 'orgs' }
  | { view: 'org'; id: string }
  | { view: 'app'; id: string }
  | { view: 'live' }
  | { view: 'missing' };

export function parse(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : '';
  const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { view: 'orgs' };
  if (parts.length === 1 && parts[0] === 'live') return { view: 'live' };
  if (parts.length === 2 && parts[0] === 'orgs' && parts[1]) return { view: 'org', id: parts[1] };
  if (parts.length === 2 && parts[0] === 'apps' && parts[1]) return { view: 'app', id: parts[1] };
  return { view: 'missing' };
}

export const paths = {
  orgs: () => BASE,
  org: (id: string) => `${BASE}orgs/${encodeURIComponent(id)}`,
  app: (id: string) => `${BASE}apps/${encodeURIComponent(id)}`,
  live: () => `${BASE}live`,
};

let listener: () => void = () => {};

/** Goes to `path` in the page (no reload) and renders it. */
export function navigate(path: string): void {
  if (path !== location.pathname) history.pushState(null, '', path);
  listener();
}

/** Renders on every route change; links marked `data-route` navigate in the page. */
export function start(render: () => void): void {
  listener = render;
  window.addEventListener('popstate', render);
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const link = (event.target as Element | null)?.closest?.('a[data-route]');
    if (!(link instanceof HTMLAnchorElement)) return;
    event.preventDefault();
    navigate(link.pathname);
  });
  render();
}
