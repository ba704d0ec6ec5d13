// Sign in and sign up (`/console/login`, `/console/reg`). A new account is signed in at once.

import { api, session } from '../api';
import { describeError } from '../../shared/http';
import { field, h, onSubmit, statusLine } from '../../shared/dom';
import type { View } from './view';

export function authView(notice: string, onSignedIn: () => void): View {
  let mode: 'in' | 'up' = 'in';
  const status = statusLine();
  if (notice) status.info(notice);

  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, maxlength: 254 });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, minlength: 8, maxlength: 256 });
  const nick = h('input', { type: 'text', name: 'nick', autocomplete: 'nickname', maxlength: 64 });
  const nickField = field('Name (optional)', nick);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const heading = h('h1', {}, 'Sign in to the Herald console');
  const toggle = h('button', { type: 'button', class: 'link' });
  const form = h('form', { class: 'card auth', 'aria-labelledby': 'auth-heading' },
    heading,
    field('Email', email),
    field('Password', password, 'At least 8 characters.'),
    nickField,
    status.el,
    submit,
    h('p', { class: 'switch' }, toggle),
  );
  heading.id = 'auth-heading';

  const show = () => {
    heading.textContent = mode === 'in' ? 'Sign in to the Herald console' : 'Create a console account';
    submit.textContent = mode === 'in' ? 'Sign in' : 'Create account';
    toggle.textContent = mode === 'in' ? 'No account yet? Create one' : 'Have an account? Sign in';
    nickField.hidden = mode === 'in';
    password.autocomplete = mode === 'in' ? 'current-password' : 'new-password';
  };
  toggle.addEventListener('click', () => {
    mode = mode === 'in' ? 'up' : 'in';
    status.clear();
    show();
  });
  show();

  onSubmit(form, async () => {
    status.info(mode === 'in' ? 'Signing in…' : 'Creating your account…');
    try {
      if (mode === 'up') await api.register(email.value, password.value, nick.value);
      const { token } = await api.login(email.value, password.value);
      session.save(token, email.value.trim().toLowerCase());
      onSignedIn();
    } catch (error) {
      status.error(describeError(error));
    }
  });

  return {
    title: 'Sign in',
    el: h('main', { class: 'auth-page' },
      h('p', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Herald'),
      form,
      h('p', { class: 'muted small' }, 'The console manages organizations, apps, their secrets and settings. Chat users sign in at ', h('a', { href: '/app/' }, '/app/'), '.'),
    ),
  };
}
