// The signed-in app: one HeraldClient (the SDK) for this tab, its events turned into the
// conversation store and the views, and the views' actions turned into SDK calls.

import { HeraldClient, HeraldError, HeraldHttp, MessageStatus, type MsgData } from 'herald-client';
import { h, replace, statusLine } from '../shared/dom';
import { describe, newMsgKey } from './format';
import type { SignedIn } from './session';
import { OnlineAwareSocket } from './socket';
import { Store, type Conv } from './store';
import { connectionView } from './views/connection';
import { conversationView, type ConversationView } from './views/conversation';
import { inviteDialog, newChatDialog, newGroupDialog } from './views/dialogs';
import { friendsView, type FriendsModel } from './views/friends';
import { listView } from './views/list';

/** At most one typing signal per this many ms while typing (the server passes about one a second). */
const TYPING_EVERY_MS = 3000;
/** A page of history. */
const PAGE = 30;
/** Phones show one pane at a time (as static/app/app.css). */
const PHONE = window.matchMedia('(max-width: 720px)');

export function startChat(root: HTMLElement, signedIn: SignedIn, signedOut: (notice: string) => void): void {
  const me = signedIn.user;
  const store = new Store(me);
  const presence = new Map<string, boolean>();
  const people: FriendsModel = { friends: [], presence, incoming: new Map() };
  const http = new HeraldHttp({ url: location.origin, token: signedIn.token });
  const client = new HeraldClient({
    url: location.origin,
    token: () => signedIn.token,
    WebSocket: OnlineAwareSocket,
    // a chat on screen retries sooner than the SDK's 30 s ceiling
    reconnect: { maxDelayMs: 10_000 },
  });

  let current: ConversationView | null = null;
  let selected: string | null = null;
  let tab: 'chats' | 'friends' = 'chats';
  let ended = false;
  /** When this tab last sent a typing signal, per conversation. */
  const typedAt = new Map<string, number>();
  let lastProbe = 0;
  let closedWhy = '';

  // ---- the shell ----

  const notices = statusLine();
  const conn = connectionView(() => {
    closedWhy = '';
    client.connect().catch(() => {});
  });
  const list = listView(store, presence, (id) => open(id));
  const friends = friendsView(people, {
    request: async (name) => {
      await client.friendRequest(name);
    },
    respond: async (name, accept) => {
      try {
        await client.respondFriend(name, accept);
      } catch (error) {
        void loadRequests(); // perhaps answered already (on another device): show what still waits
        throw error;
      }
      people.incoming.delete(name);
      requestsMeanwhile?.answered.add(name);
      renderFriends();
      if (accept) void loadFriends();
    },
    message: (name) => void startSingle(name).catch((error: unknown) => friends.notice(describe(error))),
  });
  const chatsTab = h('button', { type: 'button', class: 'tab', onclick: () => showTab('chats') }, 'Chats');
  const friendsTab = h('button', { type: 'button', class: 'tab', onclick: () => showTab('friends') }, 'Friends');
  const chatsPanel = h('div', { class: 'panel' },
    h('div', { class: 'side-actions' },
      h('button', { type: 'button', onclick: () => newChatDialog(me, startSingle) }, 'New chat'),
      h('button', { type: 'button', onclick: () => newGroupDialog(me, people.friends, createGroup) }, 'New group'),
    ),
    list.el,
  );
  const friendsPanel = h('div', { class: 'panel', hidden: true }, friends.el);
  const main = h('main', { class: 'main' });
  const shell = h('div', { class: 'chat', 'data-pane': 'list' },
    h('header', { class: 'bar' },
      h('span', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), h('span', { class: 'brand-name' }, 'Herald')),
      conn.el,
      h('span', { class: 'me' }, h('span', { class: 'muted' }, 'Signed in as '), h('strong', {}, me)),
      h('button', { type: 'button', class: 'link', onclick: () => void signOut('Signed out.') }, 'Sign out'),
    ),
    notices.el,
    h('div', { class: 'panes' },
      h('aside', { class: 'side', 'aria-label': 'Chats and friends' }, h('div', { class: 'tabs' }, chatsTab, friendsTab), chatsPanel, friendsPanel),
      main,
    ),
  );
  replace(root, shell);
  document.title = `${me} · Herald chat`;

  function showTab(next: 'chats' | 'friends'): void {
    tab = next;
    chatsPanel.hidden = tab !== 'chats';
    friendsPanel.hidden = tab !== 'friends';
    chatsTab.setAttribute('aria-pressed', String(tab === 'chats'));
    friendsTab.setAttribute('aria-pressed', String(tab === 'friends'));
    if (tab === 'friends' && client.state === 'open') void loadRequests(); // answers from other devices
  }
  showTab('chats');

  function showPane(pane: 'list' | 'conv'): void {
    shell.dataset.pane = pane;
    markRead();
  }

  function empty(): void {
    replace(main, h('div', { class: 'empty-main' }, h('p', {}, 'Pick a conversation, or start one with “New chat” or “New group”.')));
  }
  empty();

  // ---- rendering, coalesced: a catch-up may bring many messages at once ----

  let listDue = false;
  function renderList(): void {
    if (listDue) return;
    listDue = true;
    setTimeout(() => {
      listDue = false;
      list.render(selected);
    }, 0);
  }

  function renderFriends(): void {
    friends.render();
    const n = people.incoming.size;
    friendsTab.textContent = n > 0 ? `Friends (${n})` : 'Friends';
    friendsTab.setAttribute('aria-label', n > 0 ? `Friends, ${n} request${n === 1 ? '' : 's'}` : 'Friends');
  }

  // ---- conversations ----

  function open(id: string): void {
    const conv = store.convs.get(id);
    if (!conv) return;
    current?.dispose();
    selected = id;
    current = conversationView(store, conv, presence, {
      send: (content, key) => {
        typedAt.delete(id); // a send ends the typing: the next keystroke says so again
        return client.send(id, content, { msgKey: key });
      },
      newKey: newMsgKey,
      loadOlder: () => loadOlder(conv),
      typing: () => {
        const now = Date.now();
        if (now - (typedAt.get(id) ?? 0) < TYPING_EVERY_MS) return;
        typedAt.set(id, now);
        client.typing(id).catch(() => {}); // best effort: a lost typing signal is harmless
      },
      invite: () => inviteDialog(me, store.title(conv), async (members) => {
        await client.invite(id, members);
        await refreshList();
      }),
      back: () => showPane('list'),
      recall: (msg) => void recallMessage(msg),
      deleteForMe: (msg) => void deleteMessage(msg),
    });
    current.connection(client.state);
    replace(main, current.el);
    showPane('conv');
    current.scrollToEnd();
    renderList();
    if (!conv.historyLoaded) void loadLatest(conv);
    void loadReaders(conv);
  }

  /** The other members' read cursors, for the receipts: on opening, and after a reconnect (the
   *  `readBy` pushes of the time offline are lost). Pushes keep them current meanwhile. */
  async function loadReaders(conv: Conv): Promise<void> {
    try {
      store.readers(await client.readers(conv.id));
      if (current?.conv === conv) current.receipts();
    } catch {
      // no receipts shown until the next opening or connection; the conversation works without them
    }
  }

  async function loadLatest(conv: Conv): Promise<void> {
    try {
      const page = await client.history(conv.id, { limit: PAGE });
      for (const msg of page.msgs) store.add(msg);
      conv.historyLoaded = true;
      if (current?.conv === conv) current.sync();
      renderList();
      markRead();
    } catch (error) {
      if (current?.conv === conv) current.error(`History not loaded: ${describe(error)}`);
    }
  }

  async function loadOlder(conv: Conv): Promise<void> {
    const oldest = store.oldest(conv);
    if (oldest === null) return loadLatest(conv);
    try {
      const page = await client.history(conv.id, { beforeSeq: oldest, limit: PAGE });
      for (const msg of page.msgs) store.add(msg);
      if (current?.conv === conv) current.sync(true);
    } catch (error) {
      if (current?.conv === conv) current.error(`Older messages not loaded: ${describe(error)}`);
    }
  }

  async function startSingle(peer: string): Promise<void> {
    const created = await client.createSingle(peer);
    store.created(created);
    showTab('chats');
    open(created.convId);
    void queryPresence();
  }

  async function createGroup(name: string, members: string[]): Promise<void> {
    const created = await client.createGroup(members, { name });
    store.created(created);
    showTab('chats');
    open(created.convId);
  }

  async function recallMessage(msg: MsgData): Promise<void> {
    try {
      await client.recall(msg.ConversationID, msg.MsgId);
      tombstone(msg.ConversationID, msg.Seq, MessageStatus.Recalled);
    } catch (error) {
      current?.error(`Not recalled: ${describe(error)}`);
    }
  }

  async function deleteMessage(msg: MsgData): Promise<void> {
    try {
      const done = await client.deleteForMe(msg.ConversationID, msg.MsgId);
      tombstone(done.convId, done.seq, MessageStatus.DeletedForMe);
    } catch (error) {
      current?.error(`Not deleted: ${describe(error)}`);
    }
  }

  function tombstone(convId: string, seq: number, status: number, base?: MsgData): void {
    store.tombstone(convId, seq, status, base);
    if (current?.conv.id === convId) current.sync();
    renderList();
  }

  /** The read cursor follows what is on screen: the open conversation, in a visible tab and pane. */
  let reading = false;
  function markRead(): void {
    const conv = current?.conv;
    if (!conv || reading || ended) return;
    if (document.visibilityState !== 'visible' || (PHONE.matches && shell.dataset.pane !== 'conv')) return;
    if (store.unread(conv) === 0) return;
    reading = true;
    client.markRead(conv.id, conv.lastSeq).then(
      (state) => {
        reading = false;
        store.read(state.convId, state.seq);
        renderList();
        markRead(); // more may have come meanwhile
      },
      () => {
        reading = false; // tried again on the next message, connection or visibility change
      },
    );
  }
  document.addEventListener('visibilitychange', markRead);

  let refreshing: Promise<void> | null = null;
  let refreshAgain = false;
  /** conv-list again: names, members, last messages and unread counts as the server has them. */
  function refreshList(): Promise<void> {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        do {
          refreshAgain = false;
          for (const entry of await client.conversations()) store.describe(entry);
        } while (refreshAgain);
        renderList();
        current?.header();
        current?.receipts(); // a member who left no longer counts
        markRead();
        void queryPresence();
      } catch (error) {
        if (!ended) notices.error(`Conversations not loaded: ${describe(error)}`);
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  // ---- friends and presence ----

  async function loadFriends(): Promise<void> {
    try {
      const all: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await client.friends(after);
        all.push(...page.friends);
        if (!page.hasMore || page.friends.length === 0) break;
        after = page.friends[page.friends.length - 1];
      }
      people.friends = all;
      renderFriends();
      void queryPresence();
    } catch (error) {
      if (!ended) friends.notice(`Friends not loaded: ${describe(error)}`);
    }
  }

  let requestsLoading: Promise<void> | null = null;
  let requestsAgain = false;
  /** Pushes and answers that came while the pending list was being loaded: newer than the list. */
  let requestsMeanwhile: { arrived: Map<string, string>; answered: Set<string> } | null = null;

  /** The friend requests waiting for an answer, as the server has them (`friend-pending`, every
   *  page): pushes reach live connections only, so this is how the requests that came while this
   *  tab was closed or offline show up. Loaded on every connection and on opening the Friends tab;
   *  pushes and answers meanwhile are merged in, one entry per requester. */
  function loadRequests(): Promise<void> {
    if (requestsLoading) {
      requestsAgain = true;
      return requestsLoading;
    }
    const meanwhile = { arrived: new Map<string, string>(), answered: new Set<string>() };
    requestsMeanwhile = meanwhile;
    requestsLoading = (async () => {
      try {
        let listed: Map<string, string>;
        do {
          requestsAgain = false;
          listed = await pendingRequests();
        } while (requestsAgain);
        for (const [who, note] of meanwhile.arrived) listed.set(who, note);
        for (const who of meanwhile.answered) listed.delete(who);
        people.incoming = listed;
        renderFriends();
      } catch (error) {
        if (!ended) friends.notice(`Friend requests not loaded: ${describe(error)}`);
      } finally {
        requestsMeanwhile = null;
        requestsLoading = null;
      }
    })();
    return requestsLoading;
  }

  async function pendingRequests(): Promise<Map<string, string>> {
    const listed = new Map<string, string>();
    let after: string | undefined;
    for (;;) {
      const page = await client.pendingFriendRequests(after);
      for (const request of page.requests) listed.set(request.linkKey, request.information);
      if (!page.hasMore || page.requests.length === 0) return listed;
      after = page.requests[page.requests.length - 1]?.linkKey;
    }
  }

  async function queryPresence(): Promise<void> {
    const who = new Set(people.friends);
    for (const conv of store.convs.values()) {
      const peer = store.peer(conv);
      if (peer) who.add(peer);
    }
    if (who.size === 0) return;
    try {
      const online = await client.presence([...who].slice(0, 1000));
      for (const [name, on] of Object.entries(online)) presence.set(name, on);
      renderFriends();
      renderList();
      current?.header();
    } catch {
      // shown again on the next push or connection
    }
  }

  // ---- the SDK's events ----

  client.on('message', (msg) => {
    const known = store.convs.get(msg.ConversationID)?.described === true;
    store.add(msg);
    if (!known) void refreshList(); // a conversation this tab has not listed yet
    if (current?.conv.id === msg.ConversationID) {
      current.sync();
      current.stopTyping(msg.FromSession);
      markRead();
    }
    renderList();
  });
  client.on('recall', (push) => tombstone(push.convId, push.seq, MessageStatus.Recalled, push.msg));
  client.on('read', (state) => {
    store.read(state.convId, state.seq);
    renderList();
  });
  client.on('readBy', (push) => {
    if (store.readBy(push.convId, push.linkKey, push.seq) && current?.conv.id === push.convId) current.receipts();
  });
  client.on('typing', (push) => {
    if (push.linkKey !== me && current?.conv.id === push.convId) current.typing(push.linkKey);
  });
  client.on('conversation', (change) => {
    if (change.type === 'membersRemoved' && change.linkKeys.includes(me)) {
      store.convs.delete(change.convId);
      if (current?.conv.id === change.convId) {
        current.dispose();
        current = null;
        selected = null;
        empty();
        showPane('list');
      }
      renderList();
      return;
    }
    void refreshList();
  });
  client.on('friendRequest', (push) => {
    people.incoming.set(push.linkKey, push.information);
    requestsMeanwhile?.arrived.set(push.linkKey, push.information);
    renderFriends();
  });
  client.on('friendAccepted', (push) => {
    friends.notice(`${push.linkKey} accepted your friend request.`);
    void loadFriends();
  });
  client.on('friendRejected', (push) => friends.notice(`${push.linkKey} declined your friend request.`));
  client.on('presence', (push) => {
    presence.set(push.linkKey, push.online);
    renderFriends();
    renderList();
    current?.header();
  });
  client.on('kickout', (push) => {
    closedWhy = push.reason; // the server's words: "logged in on another device", "token revoked"
  });
  client.on('state', (change) => {
    if (ended) return;
    conn.set(change, closedWhy);
    current?.connection(change.state);
    if (change.state === 'closed' && change.code === 4003) {
      void signOut('You were signed out (the token was revoked). Sign in again.');
      return;
    }
    if (change.state === 'reconnecting' && change.attempt >= 2) void probeToken();
  });
  client.on('synced', () => {
    notices.clear();
    if (current) void loadReaders(current.conv);
    void refreshList();
    void loadFriends();
    void loadRequests();
  });
  client.on('error', (error) => {
    if (ended) return;
    if (error.code === 'handler') {
      // a bug of this app: let it surface as an uncaught error rather than as a notice
      setTimeout(() => {
        throw error.cause;
      }, 0);
      return;
    }
    notices.error(describe(error));
  });

  /** Browsers do not say why a WebSocket was refused: after repeated failures, ask over HTTP
   *  whether the token still works, and sign out when it does not (expired or revoked). */
  async function probeToken(): Promise<void> {
    if (!navigator.onLine || Date.now() - lastProbe < 10_000) return;
    lastProbe = Date.now();
    try {
      await http.joinedConversations({ limit: 1 });
    } catch (error) {
      if (error instanceof HeraldError && error.status === 401) void signOut('Your sign-in has expired. Sign in again.');
    }
  }

  async function signOut(notice: string): Promise<void> {
    if (ended) return;
    ended = true;
    conn.dispose();
    current?.dispose();
    document.removeEventListener('visibilitychange', markRead);
    await client.close().catch(() => {});
    await http.logout().catch(() => {}); // revokes the token (an expired one is refused: nothing to revoke)
    signedOut(notice);
  }

  renderFriends();
  renderList();
  client.connect().catch((error: unknown) => {
    if (!ended) notices.error(describe(error));
  });
}

