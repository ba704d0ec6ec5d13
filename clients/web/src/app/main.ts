// The chat app at /app/: sign in with an end-user account of an app, then chat through the
// JavaScript SDK (clients/js). The client token lives in sessionStorage (this tab only).

import { replace } from '../shared/dom';
import { authView } from './auth';
import { startChat } from './chat';
import * as session from './session';

const root = document.getElementById('root') ?? document.body;

function render(notice = ''): void {
  const signedIn = session.load();
  if (!signedIn) {
    document.title = 'Sign in · Herald chat';
    replace(root, authView(notice, (next) => {
      session.save(next);
      render();
    }));
    return;
  }
  startChat(root, signedIn, (why) => {
    session.clear();
    render(why);
  });
}

render();
