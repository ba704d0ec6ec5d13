// Sign in and register with the end-user accounts of an app (`/user/login`, `/user/register`,
// protocol §6). Accounts are off for every app until its owner turns them on, and the server
// says so (403 / 10003): that is shown with how to turn them on.

import { ErrorCode, HeraldError, HeraldHttp } from 'herald-client';
import { field, h, onSubmit, statusLine } from '../shared/dom';
import { describe } from './format';
import type { SignedIn } from './session';

/** Platform 3: web (protocol §1). */
const WEB = 3;

export function authView(notice: string, onSignedIn: (signedIn: SignedIn) => void): HTMLElement {
  let mode: 'in' | 'up' = 'in';
  const status = statusLine();
  if (notice) status.info(notice);
  const http = new HeraldHttp({ url: location.origin });

  const app = h('input', { type: 'text', name: 'app', required: true, maxlength: 128, autocomplete: 'off', spellcheck: 'false' });
  app.value = new URLSearchParams(location.search).get('app') || 'default';
  const user = h('input', { type: 'text', name: 'user', required: true, maxlength: 128, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', name: 'password', required: true, minlength: 8, maxlength: 256, autocomplete: 'current-password' });
  const heading = h('h1', { id: 'auth-heading' });
  const submit = h('button', { type: 'submit', class: 'primary' });
  const toggle = h('button', { type: 'button', class: 'link' });
  const form = h('form', { class: 'card auth', 'aria-labelledby': 'auth-heading' },
    heading,
    field('User name', user),
    field('Password', password, 'At least 8 characters.'),
    field('App', app, 'The app id (“default”: the demo app of herald up).'),
    status.el,
    submit,
    h('p', { class: 'switch' }, toggle),
  );

  const show = () => {
    heading.textContent = mode === 'in' ? 'Sign in to Herald chat' : 'Create a Herald chat account';
    submit.textContent = mode === 'in' ? 'Sign in' : 'Create account';
    toggle.textContent = mode === 'in' ? 'No account yet? Create one' : 'Have an account? Sign in';
    password.autocomplete = mode === 'in' ? 'current-password' : 'new-password';
  };
  toggle.addEventListener('click', () => {
    mode = mode === 'in' ? 'up' : 'in';
    status.clear();
    show();
  });
  show();

  onSubmit(form, async () => {
    const appId = app.value.trim();
    const name = user.value.trim();
    status.info(mode === 'in' ? 'Signing in…' : 'Creating your account…');
    try {
      if (mode === 'up') await http.register(name, password.value, appId);
      const token = await http.login(name, password.value, { app: appId, platform: WEB });
      onSignedIn({ app: appId, user: name, token });
    } catch (error) {
      const off = error instanceof HeraldError && error.code === ErrorCode.NotAllowed;
      status.error(off ? `${describe(error)}. The app's owner turns accounts on in the console or with PUT /inner/settings.` : describe(error));
    }
  });

  return h('main', { class: 'auth-page' },
    h('p', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Herald chat'),
    form,
    h('p', { class: 'muted small' }, 'Apps and their settings are managed in the ', h('a', { href: '/console-ui/' }, 'console'), '.'),
  );
}
