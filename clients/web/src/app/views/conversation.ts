// The conversation view: its messages in `Seq` order (each once: rows are kept by `Seq`),
// older pages on scrolling up or with "Load older messages", the composer with the typing
// signal, sends in flight, who is typing, read receipts, and the server's refusals shown plainly.

import { HeraldError, type ConnectionState, type MsgData } from 'herald-client';
import { h, statusLine } from '../../shared/dom';
import { describe } from '../format';
import type { Conv, Store } from '../store';
import { messageRow, pendingRow, type MessageActions } from './message';

export interface ConversationActions extends MessageActions {
  /** Sends with this idempotency key: resolves with the stored message. */
  send(content: string, key: string): Promise<MsgData>;
  newKey(): string;
  loadOlder(): Promise<void>;
  typing(): void;
  invite(): void;
  back(): void;
}

export interface ConversationView {
  el: HTMLElement;
  conv: Conv;
  /** Shows what the store holds now (new messages, tombstones); `keepPlace` after loading older ones. */
  sync(keepPlace?: boolean): void;
  header(): void;
  /** Shows the read receipt the store has now (after `readers` or a `readBy` push). */
  receipts(): void;
  /** Scrolls to the newest message (once the view is on the page). */
  scrollToEnd(): void;
  typing(who: string): void;
  stopTyping(who: string): void;
  error(text: string): void;
  connection(state: ConnectionState): void;
  dispose(): void;
}

/** How long a typing signal shows (the sender repeats it every few seconds while typing). */
const TYPING_SHOWN_MS = 6000;

export function conversationView(store: Store, conv: Conv, presence: Map<string, boolean>, actions: ConversationActions): ConversationView {
  const me = store.me;
  const titleId = `conv-title-${conv.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const title = h('h2', { id: titleId });
  const sub = h('p', { class: 'sub muted small' });
  const invite = h('button', { type: 'button', onclick: actions.invite }, 'Invite');
  const head = h('header', { class: 'conv-head' },
    h('button', { type: 'button', class: 'back', 'aria-label': 'Back to conversations', onclick: actions.back }, '‹'),
    h('div', { class: 'conv-title' }, title, sub),
    invite,
  );

  const older = h('button', { type: 'button', class: 'older link' }, 'Load older messages');
  const list = h('ol', { class: 'messages', 'aria-label': 'Messages' });
  const pending = h('ol', { class: 'messages pending-list', 'aria-label': 'Sending' });
  const scroller = h('div', { class: 'scroller' }, older, list, pending);
  const typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
  const problem = statusLine();

  const input = h('textarea', { name: 'message', rows: 1, maxlength: 10000, placeholder: 'Message', autocomplete: 'off' });
  const composer = h('form', { class: 'composer', 'aria-label': 'Send a message' },
    h('label', { class: 'grow' }, h('span', { class: 'sr-only' }, 'Message'), input),
    h('button', { type: 'submit', class: 'primary' }, 'Send'),
  );
  const el = h('section', { class: 'conv', 'aria-labelledby': titleId }, head, scroller, typingLine, problem.el, composer);

  const rows = new Map<number, { row: HTMLLIElement; status: number }>();
  /** Rendered `Seq`s, ascending. */
  const order: number[] = [];
  const sends = new Map<string, { row: HTMLLIElement; state: HTMLElement; buttons: HTMLElement; content: string }>();
  /** The one receipt line, under the latest own message another member has read. */
  const receiptText = h('span', {});
  const receiptLine = h('p', { class: 'receipt' }, h('span', { class: 'ticks', 'aria-hidden': 'true' }, '✓✓'), receiptText);
  const typers = new Map<string, number>();
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  let connection: ConnectionState = 'open';
  let loading = false;

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };

  const place = (msg: MsgData): boolean => {
    const held = rows.get(msg.Seq);
    if (held && held.status === msg.Status) return false;
    const row = messageRow(msg, me, { group: conv.kind === 'group', owner: conv.owner === me }, actions);
    if (held) {
      held.row.replaceWith(row);
    } else {
      // binary search for the first rendered Seq above this one
      let lo = 0;
      let hi = order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((order[mid] ?? 0) < msg.Seq) lo = mid + 1;
        else hi = mid;
      }
      const next = order[lo];
      const before = next === undefined ? null : rows.get(next)?.row ?? null;
      list.insertBefore(row, before);
      order.splice(lo, 0, msg.Seq);
    }
    rows.set(msg.Seq, { row, status: msg.Status });
    // a send of this tab is now in its place
    if (msg.ClientMsgId) {
      const send = sends.get(msg.ClientMsgId);
      send?.row.remove();
      sends.delete(msg.ClientMsgId);
    }
    return true;
  };

  const showOlder = () => {
    const oldest = store.oldest(conv);
    older.hidden = oldest === null ? conv.lastSeq === 0 : oldest <= 1;
    older.disabled = loading;
    older.textContent = loading ? 'Loading older messages…' : 'Load older messages';
  };

  const loadOlder = async () => {
    if (loading || older.hidden) return;
    loading = true;
    showOlder();
    try {
      await actions.loadOlder();
    } finally {
      loading = false;
      showOlder();
    }
  };
  older.addEventListener('click', () => void loadOlder());
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 40) void loadOlder();
  });

  const renderTyping = () => {
    const now = Date.now();
    for (const [who, until] of typers) if (until <= now) typers.delete(who);
    const who = [...typers.keys()];
    typingLine.textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
    clearTimeout(typingTimer);
    if (who.length > 0) typingTimer = setTimeout(renderTyping, Math.max(50, Math.min(...typers.values()) - now));
  };

  const pendingState = (send: { state: HTMLElement }) => {
    send.state.textContent = connection === 'open' ? 'Sending…' : 'Waiting for the connection…';
  };

  const submit = (content: string, key: string) => {
    let send = sends.get(key);
    if (!send) {
      send = { ...pendingRow(content), content };
      sends.set(key, send);
      pending.append(send.row);
    }
    send.row.classList.remove('failed');
    send.buttons.hidden = true;
    pendingState(send);
    toBottom();
    actions.send(content, key).then(
      (stored) => {
        sends.get(key)?.row.remove();
        sends.delete(key);
        if (store.add(stored) || !rows.has(stored.Seq)) view.sync();
      },
      (error: unknown) => {
        const failed = sends.get(key);
        if (!failed) return;
        const text = `Not sent: ${describe(error)}`;
        failed.row.classList.add('failed');
        failed.state.textContent = text;
        problem.error(text);
        // The server refused it, so it is not stored: the retry is a new message (a new key; the
        // refused key may still be in the server's dedupe window). Otherwise (the client was
        // closed before an answer) it may be stored: the same key, so that it is not stored twice.
        const refused = error instanceof HeraldError && typeof error.code === 'number';
        const retry = () => {
          if (!refused) return submit(content, key);
          failed.row.remove();
          sends.delete(key);
          submit(content, actions.newKey());
        };
        failed.buttons.replaceChildren(
          h('button', { type: 'button', class: 'link', onclick: retry }, 'Retry'),
          h('button', { type: 'button', class: 'link', onclick: () => { failed.row.remove(); sends.delete(key); } }, 'Dismiss'),
        );
        failed.buttons.hidden = false;
      },
    );
  };

  composer.addEventListener('submit', (event) => {
    event.preventDefault(); // never a form submission (CSP form-action 'none')
    const content = input.value.trim();
    if (!content) return;
    input.value = '';
    problem.clear();
    submit(content, actions.newKey());
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener('input', () => {
    if (input.value.trim()) actions.typing();
  });

  const view: ConversationView = {
    el,
    conv,
    sync(keepPlace = false) {
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      const follow = nearBottom();
      let added = false;
      for (const msg of store.messages(conv)) added = place(msg) || added;
      view.receipts();
      showOlder();
      if (keepPlace) scroller.scrollTop = scroller.scrollHeight - fromBottom;
      else if (added && follow) toBottom();
    },
    receipts() {
      const receipt = store.receipt(conv);
      const row = receipt === null ? undefined : rows.get(receipt.seq)?.row;
      if (!receipt || !row) {
        receiptLine.remove();
        return;
      }
      // 1:1: the peer has read it; a group: how many members have (and who, on hover)
      const group = conv.kind === 'group';
      receiptText.textContent = group ? `Read by ${receipt.readers.length}` : 'Read';
      if (group) receiptLine.title = `Read by ${receipt.readers.join(', ')}`;
      else receiptLine.removeAttribute('title');
      if (receiptLine.parentElement === row) return;
      const follow = nearBottom();
      row.append(receiptLine);
      if (follow) toBottom(); // a receipt under the newest message stays in sight
    },
    header() {
      title.textContent = store.title(conv);
      const peer = store.peer(conv);
      if (peer !== null) {
        const online = presence.get(peer);
        sub.textContent = online === undefined ? '1:1 chat' : online ? 'online' : 'offline';
        sub.dataset.presence = online ? 'online' : 'offline';
      } else {
        const count = conv.memberCount || conv.members.length;
        sub.textContent = `${count} member${count === 1 ? '' : 's'}: ${conv.members.join(', ')}${conv.memberCount > conv.members.length ? ', …' : ''}`;
        delete sub.dataset.presence;
      }
      invite.hidden = conv.kind !== 'group';
    },
    scrollToEnd: toBottom,
    typing(who) {
      typers.set(who, Date.now() + TYPING_SHOWN_MS);
      renderTyping();
    },
    stopTyping(who) {
      if (typers.delete(who)) renderTyping();
    },
    error(text) {
      problem.error(text);
    },
    connection(state) {
      connection = state;
      for (const send of sends.values()) if (!send.row.classList.contains('failed')) pendingState(send);
    },
    dispose() {
      clearTimeout(typingTimer);
    },
  };

  view.header();
  view.sync();
  return view;
}
