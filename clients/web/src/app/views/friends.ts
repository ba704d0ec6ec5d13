// Friends: send a request by user name, answer the requests that came in, and the friends
// themselves with their presence (online dot) and a button to message them.

import { field, h, onSubmit, replace, statusLine } from '../../shared/dom';
import { describe } from '../format';

export interface FriendsModel {
  friends: string[];
  presence: Map<string, boolean>;
  /** Requests waiting for an answer, by requester: their note (the server's pending list, and
   *  the pushes since). */
  incoming: Map<string, string>;
}

export interface FriendsActions {
  request(name: string): Promise<void>;
  respond(name: string, accept: boolean): Promise<void>;
  message(name: string): void;
}

export interface FriendsView {
  el: HTMLElement;
  render(): void;
  notice(text: string): void;
}

export function friendsView(model: FriendsModel, actions: FriendsActions): FriendsView {
  const status = statusLine();
  const name = h('input', { type: 'text', name: 'friend', required: true, maxlength: 128, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const form = h('form', { class: 'inline-form', 'aria-label': 'Add a friend' },
    field('Friend’s user name', name),
    h('button', { type: 'submit' }, 'Send request'),
  );
  onSubmit(form, async () => {
    const who = name.value.trim();
    try {
      await actions.request(who);
      status.info(`Friend request sent to ${who}.`);
      name.value = '';
    } catch (error) {
      status.error(describe(error));
    }
  });

  const requestsHeading = h('h2', {}, 'Requests');
  const requests = h('ul', { class: 'people', 'aria-label': 'Friend requests' });
  const friends = h('ul', { class: 'people', 'aria-label': 'Friends' });
  const el = h('section', { class: 'friends', 'aria-label': 'Friends and requests' },
    h('h2', {}, 'Add a friend'),
    form,
    status.el,
    requestsHeading,
    requests,
    h('h2', {}, 'Friends'),
    friends,
  );

  const answer = (who: string, accept: boolean) => async () => {
    try {
      await actions.respond(who, accept);
      status.info(accept ? `You and ${who} are friends now.` : `Request from ${who} declined.`);
    } catch (error) {
      status.error(describe(error));
    }
  };

  return {
    el,
    notice: (text) => status.info(text),
    render() {
      requestsHeading.hidden = requests.hidden = model.incoming.size === 0;
      replace(requests, [...model.incoming].map(([who, note]) =>
        h('li', { class: 'person' },
          h('span', { class: 'who' }, h('strong', {}, who), ' wants to be your friend', note ? h('span', { class: 'muted' }, ` — “${note}”`) : null),
          h('span', { class: 'buttons' },
            h('button', { type: 'button', class: 'primary', 'aria-label': `Accept ${who}`, onclick: answer(who, true) }, 'Accept'),
            h('button', { type: 'button', 'aria-label': `Reject ${who}`, onclick: answer(who, false) }, 'Reject'),
          ),
        )));
      if (model.friends.length === 0) {
        replace(friends, h('li', { class: 'empty' }, 'No friends yet: send a request by user name.'));
        return;
      }
      replace(friends, model.friends.map((who) => {
        const online = model.presence.get(who) === true;
        return h('li', { class: 'person' },
          h('span', { class: `dot${online ? ' online' : ''}`, 'aria-hidden': 'true' }),
          h('span', { class: 'who' }, h('strong', {}, who), h('span', { class: 'muted small presence' }, online ? 'online' : 'offline')),
          h('button', { type: 'button', 'aria-label': `Message ${who}`, onclick: () => actions.message(who) }, 'Message'),
        );
      }));
    },
  };
}
