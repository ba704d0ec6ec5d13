// The console user's organizations, and a form to create one.

import { api, type Org } from '../api';
import { paths, navigate } from '../router';
import { describeError } from '../../shared/http';
import { field, h, onSubmit, replace, statusLine } from '../../shared/dom';
import type { View } from './view';

export function orgsView(): View {
  const list = h('ul', { class: 'list', 'aria-label': 'Organizations' });
  const listStatus = statusLine();
  const render = (orgs: Org[]) => {
    if (orgs.length === 0) {
      replace(list, h('li', { class: 'empty' }, 'No organization yet: create the first one below.'));
      return;
    }
    replace(list, orgs.map((org) =>
      h('li', {},
        h('a', { href: paths.org(org.orgId), 'data-route': true, class: 'row-link' },
          h('strong', {}, org.name),
          org.desc ? h('span', { class: 'muted' }, org.desc) : null,
          h('code', { class: 'id' }, org.orgId),
        ),
      ),
    ));
  };
  listStatus.info('Loading…');
  api.orgs().then((orgs) => {
    listStatus.clear();
    render(orgs);
  }, (error) => listStatus.error(describeError(error)));

  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 128 });
  const desc = h('input', { type: 'text', name: 'desc', maxlength: 1024 });
  const status = statusLine();
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-org' },
    h('h2', { id: 'new-org' }, 'New organization'),
    field('Organization name', name),
    field('Description (optional)', desc),
    status.el,
    h('button', { type: 'submit', class: 'primary' }, 'Create organization'),
  );
  onSubmit(form, async () => {
    status.clear();
    try {
      const { orgId } = await api.createOrg(name.value.trim(), desc.value.trim());
      navigate(paths.org(orgId));
    } catch (error) {
      status.error(describeError(error));
    }
  });

  return {
    title: 'Organizations',
    el: h('section', { class: 'stack' },
      h('h1', {}, 'Organizations'),
      h('div', { class: 'card' }, listStatus.el, list),
      form,
    ),
  };
}
