// One message of the conversation view: who, when, what, and its actions (recall for
// everyone: own messages, or any as the group's owner; delete for me).

import { MessageStatus, type MsgData } from 'herald-client';
import { h } from '../../shared/dom';
import { messageText, shortTime } from '../format';

export interface MessageActions {
  recall(msg: MsgData): void;
  deleteForMe(msg: MsgData): void;
}

export function messageRow(msg: MsgData, me: string, options: { group: boolean; owner: boolean }, actions: MessageActions): HTMLLIElement {
  const mine = msg.FromSession === me;
  const gone = msg.Status !== MessageStatus.Normal;
  const row = h('li', { class: `msg ${mine ? 'mine' : 'theirs'}${gone ? ' tombstone' : ''}`, 'data-seq': msg.Seq },
    h('div', { class: 'bubble' },
      options.group && !mine && !gone ? h('p', { class: 'from' }, msg.FromSession) : null,
      h('p', { class: 'text' }, messageText(msg, me)),
      h('p', { class: 'meta' }, h('time', { datetime: msg.SendTime }, shortTime(msg.SendTime))),
    ),
  );
  if (gone) return row;

  const menu = h('div', { class: 'actions', hidden: true },
    mine || options.owner ? h('button', { type: 'button', onclick: () => actions.recall(msg) }, 'Recall for everyone') : null,
    h('button', { type: 'button', onclick: () => actions.deleteForMe(msg) }, 'Delete for me'),
  );
  const more = h('button', { type: 'button', class: 'more', 'aria-label': 'Message actions', 'aria-expanded': 'false' }, '⋯');
  more.addEventListener('click', () => {
    const open = menu.hidden;
    menu.hidden = !open;
    more.setAttribute('aria-expanded', String(open));
  });
  row.append(more, menu);
  return row;
}

/** A message being sent (in the SDK's outbox) or refused. */
export function pendingRow(content: string): { row: HTMLLIElement; state: HTMLElement; buttons: HTMLElement } {
  const state = h('p', { class: 'state' });
  const buttons = h('span', { class: 'buttons', hidden: true });
  const row = h('li', { class: 'msg mine pending' },
    h('div', { class: 'bubble' }, h('p', { class: 'text' }, content), state),
    buttons,
  );
  return { row, state, buttons };
}
