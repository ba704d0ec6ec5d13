// The chat app at /app/. It is built on the JavaScript SDK (clients/js); until that lands,
// this page says so and points at the console.

import { h, replace } from '../shared/dom';

const root = document.getElementById('root') ?? document.body;
replace(root,
  h('main', { class: 'placeholder' },
    h('p', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Herald'),
    h('section', { class: 'card' },
      h('h1', {}, 'The chat app is on its way'),
      h('p', {}, 'It is built on Herald’s JavaScript SDK, which is not part of this server yet.'),
      h('p', {}, 'Meanwhile, the ', h('a', { href: '/console-ui/' }, 'console'), ' manages organizations, apps and their settings.'),
    ),
  ),
);
