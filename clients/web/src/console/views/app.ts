// One app: what it is, its secret (shown once after creation or rotation), its settings, and
// how to try it.

import { api, type App, type Settings } from '../api';
import { paths } from '../router';
import { secretPanel, takeSecret } from './secret';
import { settingsForm } from './settings';
import { describeError } from '../../shared/http';
import { h, replace, statusLine } from '../../shared/dom';
import type { View } from './view';

export function appView(appId: string): View {
  const secret = takeSecret(appId);
  const heading = h('h1', {}, 'App');
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: paths.orgs(), 'data-route': true }, 'Organizations'));
  const secretSlot = h('div', {}, secret ? secretPanel(appId, secret, 'created') : null);
  const body = h('div', { class: 'stack' });
  const status = statusLine();
  status.info('Loading…');

  api.app(appId).then((app) => {
    status.clear();
    heading.textContent = app.name;
    const orgLink = h('a', { href: paths.org(app.orgId), 'data-route': true }, 'Organization');
    crumbs.append(' / ', orgLink);
    api.org(app.orgId).then((org) => (orgLink.textContent = org.name), () => {});
    const tryIt = h('section', { class: 'card', 'aria-labelledby': 'try-heading' });
    const showTry = (s: Settings) => replace(tryIt, ...tryItContent(app, s));
    showTry(app.settings);
    replace(body,
      details(app),
      settingsForm(appId, app.settings, showTry),
      tryIt,
      rotateSection(appId, secretSlot),
    );
  }, (error) => status.error(describeError(error)));

  return {
    title: 'App',
    el: h('section', { class: 'stack' }, crumbs, heading, status.el, secretSlot, body),
  };
}

function details(app: App): HTMLElement {
  return h('dl', { class: 'card facts' },
    h('dt', {}, 'App id'), h('dd', {}, h('code', {}, app.appId)),
    h('dt', {}, 'Organization'), h('dd', {}, h('code', {}, app.orgId)),
    h('dt', {}, 'Created'), h('dd', {}, new Date(app.createdAt).toLocaleString()),
  );
}

function tryItContent(app: App, s: Settings): (Node | string)[] {
  const chat = `/app/?app=${encodeURIComponent(app.appId)}`;
  return [
    h('h2', { id: 'try-heading' }, 'Try it'),
    s.end_user_accounts
      ? h('p', {}, 'End-user accounts are on: people can register and chat in the web app at ', h('a', { href: chat }, chat), '.')
      : h('p', {}, 'End-user accounts are off, so your backend mints client tokens with the secret (',
          h('code', {}, 'POST /inner/get_token {"session", "platform"}'), '). Turn accounts on above to let people register in the web app.'),
  ];
}

function rotateSection(appId: string, secretSlot: HTMLElement): HTMLElement {
  const status = statusLine();
  const start = h('button', { type: 'button' }, 'Rotate secret');
  const confirm = h('button', { type: 'button', class: 'danger' }, 'Rotate now');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const ask = h('div', { class: 'confirm', hidden: true },
    h('p', {}, 'The current secret stops working at once (on other gateways within 10 s). Every backend using it must get the new one.'),
    h('div', { class: 'buttons' }, confirm, cancel),
  );
  start.addEventListener('click', () => {
    ask.hidden = false;
    start.hidden = true;
    confirm.focus();
  });
  cancel.addEventListener('click', () => {
    ask.hidden = true;
    start.hidden = false;
  });
  confirm.addEventListener('click', () => {
    confirm.disabled = true;
    status.clear();
    api.rotateSecret(appId).then(({ secret }) => {
      replace(secretSlot, secretPanel(appId, secret, 'rotated'));
      secretSlot.scrollIntoView({ block: 'start' });
      ask.hidden = true;
      start.hidden = false;
    }, (error) => status.error(describeError(error))).finally(() => (confirm.disabled = false));
  });
  return h('section', { class: 'card', 'aria-labelledby': 'rotate-heading' },
    h('h2', { id: 'rotate-heading' }, 'Secret'),
    h('p', { class: 'muted small' }, 'Herald keeps only a hash of the app secret. Lost it, or think it leaked? Rotate it: a new one is shown once.'),
    start, ask, status.el,
  );
}
