// The console routes of protocol §6, typed. The console token lives in sessionStorage (gone
// when the tab closes, never shared with other tabs' localStorage) and nowhere else.

import { ApiError, call } from '../shared/http';

const TOKEN_KEY = 'herald.console.token';
const EMAIL_KEY = 'herald.console.email';

export interface Org {
  orgId: string;
  name: string;
  desc: string;
  owner: string;
}

export interface Settings {
  login_policy: 'multi' | 'kick';
  require_friendship: boolean;
  spam_unanswered_limit: number;
  send_rate_per_sec: number;
  send_burst: number;
  end_user_accounts: boolean;
  max_members: number;
}

export interface App {
  appId: string;
  orgId: string;
  name: string;
  createdAt: string;
  settings: Settings;
}

export const session = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  email(): string {
    return sessionStorage.getItem(EMAIL_KEY) ?? '';
  },
  save(token: string, email: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(EMAIL_KEY, email);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(EMAIL_KEY);
  },
};

/** Called when the server refuses the console token (expired after 24 h, say). */
let onSignedOut: (reason: string) => void = () => {};
export function whenSignedOut(handler: (reason: string) => void): void {
  onSignedOut = handler;
}

async function authed<T>(path: string, method: 'GET' | 'POST' | 'PUT' = 'GET', body?: unknown): Promise<T> {
  try {
    return await call<T>(path, { method, token: session.token(), body });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.clear();
      onSignedOut('Your console session has ended: sign in again.');
    }
    throw error;
  }
}

const enc = encodeURIComponent;

export const api = {
  register: (email: string, password: string, nick: string) =>
    call<{ userId: string }>('/console/reg', { method: 'POST', body: { email, password, nick } }),
  login: (email: string, password: string) =>
    call<{ token: string }>('/console/login', { method: 'POST', body: { email, password } }),
  orgs: () => authed<Org[]>('/console/orgs'),
  org: (id: string) => authed<Org>(`/console/org/${enc(id)}`),
  createOrg: (name: string, desc: string) => authed<{ orgId: string }>('/console/org', 'POST', { name, desc }),
  apps: (orgId: string) => authed<App[]>(`/console/apps/${enc(orgId)}`),
  app: (id: string) => authed<App>(`/console/app/${enc(id)}`),
  createApp: (orgId: string, name: string) =>
    authed<{ appId: string; secret: string }>('/console/app', 'POST', { orgId, name }),
  rotateSecret: (id: string) => authed<{ secret: string }>(`/console/app/${enc(id)}/rotate_secret`, 'POST', {}),
  settings: (id: string) => authed<Settings>(`/console/app/${enc(id)}/settings`),
  saveSettings: (id: string, settings: Settings) =>
    authed<Settings>(`/console/app/${enc(id)}/settings`, 'PUT', settings),
};
