// One organization: its apps, and a form to create one (whose secret the app view then shows once).

import { api, type App } from '../api';
import { navigate, paths } from '../router';
import { handOverSecret } from './secret';
import { describeError } from '../../shared/http';
import { field, h, onSubmit, replace, statusLine } from '../../shared/dom';
import type { View } from './view';

export function orgView(orgId: string): View {
  const heading = h('h1', {}, 'Organization');
  const about = h('p', { class: 'muted' });
  const list = h('ul', { class: 'list', 'aria-label': 'Apps' });
  const listStatus = statusLine();
  listStatus.info('Loading…');

  const render = (apps: App[]) => {
    if (apps.length === 0) {
      replace(list, h('li', { class: 'empty' }, 'No app yet: create one below.'));
      return;
    }
    replace(list, apps.map((app) =>
      h('li', {},
        h('a', { href: paths.app(app.appId), 'data-route': true, class: 'row-link' },
          h('strong', {}, app.name),
          h('code', { class: 'id' }, app.appId),
          h('span', { class: 'tags' },
            app.settings.end_user_accounts ? h('span', { class: 'tag on' }, 'accounts on') : h('span', { class: 'tag' }, 'accounts off'),
            app.settings.require_friendship ? h('span', { class: 'tag' }, 'friends only') : null,
          ),
        ),
      ),
    ));
  };

  Promise.all([api.org(orgId), api.apps(orgId)]).then(([org, apps]) => {
    heading.textContent = org.name;
    about.textContent = org.desc ? `${org.desc} · ${org.orgId}` : org.orgId;
    listStatus.clear();
    render(apps);
  }, (error) => listStatus.error(describeError(error)));

  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 128 });
  const status = statusLine();
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-app' },
    h('h2', { id: 'new-app' }, 'New app'),
    h('p', { class: 'muted small' }, 'An app is a tenant: its users, conversations and messages are its own. Its secret is shown once, right after creation.'),
    field('App name', name),
    status.el,
    h('button', { type: 'submit', class: 'primary' }, 'Create app'),
  );
  onSubmit(form, async () => {
    status.clear();
    try {
      const { appId, secret } = await api.createApp(orgId, name.value.trim());
      handOverSecret(appId, secret);
      navigate(paths.app(appId));
    } catch (error) {
      status.error(describeError(error));
    }
  });

  return {
    title: 'Organization',
    el: h('section', { class: 'stack' },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: paths.orgs(), 'data-route': true }, 'Organizations')),
      heading,
      about,
      h('div', { class: 'card' }, h('h2', {}, 'Apps'), listStatus.el, list),
      form,
    ),
  };
}
