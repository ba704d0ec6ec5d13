// Who is signed in: the app, the user name and the client token from /user/login, kept in
// sessionStorage (this tab only, gone when it closes), never in localStorage.

export interface SignedIn {
  app: string;
  user: string;
  token: string;
}

const KEY = 'herald.chat.session';

export function load(): SignedIn | null {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<SignedIn> | null;
    if (value && typeof value.app === 'string' && typeof value.user === 'string' && typeof value.token === 'string') {
      return { app: value.app, user: value.user, token: value.token };
    }
  } catch {
    // unreadable: signed out
  }
  return null;
}

export function save(signedIn: SignedIn): void {
  sessionStorage.setItem(KEY, JSON.stringify(signedIn));
}

/** Forgets the sign-in and everything kept for it in this tab. */
export function clear(): void {
  sessionStorage.clear();
}
