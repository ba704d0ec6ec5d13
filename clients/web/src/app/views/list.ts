// The conversation list: each conversation with its last message, time and unread count,
// newest activity first.

import { h, replace } from '../../shared/dom';
import { preview, shortTime } from '../format';
import type { Store } from '../store';

export interface ListView {
  el: HTMLElement;
  render(selected: string | null): void;
}

export function listView(store: Store, presence: Map<string, boolean>, onOpen: (convId: string) => void): ListView {
  const list = h('ul', { class: 'convs' });
  const el = h('nav', { class: 'conv-list', 'aria-label': 'Conversations' }, list);

  return {
    el,
    render(selected) {
      const focused = (document.activeElement as HTMLElement | null)?.dataset?.conv;
      const convs = store.ordered();
      if (convs.length === 0) {
        replace(list, h('li', { class: 'empty' }, 'No conversations yet. Start one with “New chat”, or message a friend.'));
        return;
      }
      replace(list, convs.map((conv) => {
        const title = store.title(conv);
        const unread = store.unread(conv);
        const peer = store.peer(conv);
        const online = peer === null ? undefined : presence.get(peer);
        const button = h('button', { type: 'button', class: 'conv-item', 'data-conv': conv.id, 'aria-current': conv.id === selected ? 'true' : null, onclick: () => onOpen(conv.id) },
          h('span', { class: `avatar${online ? ' online' : ''}`, 'aria-hidden': 'true' }, (title[0] ?? '?').toUpperCase()),
          h('span', { class: 'ci-main' },
            h('span', { class: 'ci-top' },
              h('strong', { class: 'ci-name' }, title),
              conv.last ? h('time', { datetime: conv.last.SendTime }, shortTime(conv.last.SendTime)) : null,
            ),
            h('span', { class: 'ci-bottom' },
              h('span', { class: 'ci-preview' }, preview(conv.last, store.me, conv.kind === 'group')),
              unread > 0 ? h('span', { class: 'badge' }, unread > 99 ? '99+' : String(unread), h('span', { class: 'sr-only' }, ' unread')) : null,
            ),
          ),
        );
        return h('li', {}, button);
      }));
      if (focused) (list.querySelector(`[data-conv="${CSS.escape(focused)}"]`) as HTMLElement | null)?.focus();
    },
  };
}
