// The Herald console at /console-ui/: a plain client of the public /console/* routes. It
// holds the console token in sessionStorage and no app secret beyond the moment it is shown.

import { session, whenSignedOut } from './api';
import { BASE, navigate, parse, paths, start } from './router';
import { appView } from './views/app';
import { authView } from './views/auth';
import { liveView } from './views/live';
import { orgView } from './views/org';
import { orgsView } from './views/orgs';
import type { View } from './views/view';
import { h, replace } from '../shared/dom';

const root = document.getElementById('root') ?? document.body;
let current: View | null = null;
let notice = '';

function show(view: View, chrome: boolean): void {
  current?.dispose?.();
  current = view;
  document.title = `${view.title} · Herald console`;
  if (!chrome) {
    replace(root, view.el);
    return;
  }
  const route = parse(location.pathname);
  const link = (href: string, label: string, active: boolean) =>
    h('a', { href, 'data-route': true, 'aria-current': active ? 'page' : null }, label);
  const signOut = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOut.addEventListener('click', () => {
    session.clear();
    notice = 'Signed out.';
    navigate(BASE);
  });
  replace(root,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: BASE, 'data-route': true }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Herald console'),
      h('nav', { 'aria-label': 'Main' },
        link(paths.orgs(), 'Organizations', route.view !== 'live'),
        link(paths.live(), 'Live', route.view === 'live'),
        h('a', { href: '/app/' }, 'Chat app'),
      ),
      h('span', { class: 'who' }, h('span', { class: 'muted' }, session.email()), signOut),
    ),
    h('main', { class: 'content' }, view.el),
  );
  (view.el.querySelector('h1') as HTMLElement | null)?.focus?.();
}

function render(): void {
  if (!session.token()) {
    const text = notice;
    notice = '';
    show(authView(text, render), false);
    return;
  }
  const route = parse(location.pathname);
  switch (route.view) {
    case 'orgs':
      return show(orgsView(), true);
    case 'org':
      return show(orgView(route.id), true);
    case 'app':
      return show(appView(route.id), true);
    case 'live':
      return show(liveView(), true);
    case 'missing':
      return show({ title: 'Not found', el: h('section', {}, h('h1', {}, 'Nothing here'), h('p', {}, h('a', { href: BASE, 'data-route': true }, 'Back to your organizations'))) }, true);
  }
}

whenSignedOut((reason) => {
  notice = reason;
  render();
});
start(render);
