// What the app knows about its conversations: for each, what the list shows (name, members,
// last message, unread count) and the messages loaded so far. Plain data, no DOM.
//
// Messages are kept by `Seq`, so a message is held once whatever brings it — the SDK's `message`
// event (each once, in order), a send's reply, or a history page that overlaps what is already
// there — and a tombstone (recalled, deleted for me) is never turned back into the message.
//
// The other members' read cursors (read receipts) come from `readers` when a conversation opens
// and from `readBy` pushes after that; like this session's own cursor they only move forward,
// so a late reply or push never takes a receipt back.

import { MessageStatus, type ConversationEntry, type CreatedConversation, type MsgData, type Readers } from 'herald-client';

export interface Conv {
  id: string;
  kind: 'single' | 'group';
  name: string;
  owner: string;
  /** Members (the list shows at most 100). */
  members: string[];
  memberCount: number;
  /** The newest message known, and its `Seq`. */
  last: MsgData | null;
  lastSeq: number;
  /** This session's read cursor: the last `Seq` it has read (its own messages count as read). */
  readSeq: number;
  /** The other members' read cursors, as far as known (a member absent: nothing known, as 0). */
  readers: Map<string, number>;
  /** False when the server keeps no receipts for it (more than 50 members). */
  receipts: boolean;
  /** Loaded messages by `Seq`. */
  messages: Map<number, MsgData>;
  /** Whether the latest history page has been loaded (on first opening). */
  historyLoaded: boolean;
  /** Whether conv-list has described it (false: known only from a message so far). */
  described: boolean;
}

export class Store {
  readonly convs = new Map<string, Conv>();

  constructor(readonly me: string) {}

  private conv(id: string): Conv {
    let conv = this.convs.get(id);
    if (!conv) {
      conv = {
        id,
        kind: 'group',
        name: '',
        owner: '',
        members: [],
        memberCount: 0,
        last: null,
        lastSeq: 0,
        readSeq: 0,
        readers: new Map(),
        receipts: true,
        messages: new Map(),
        historyLoaded: false,
        described: false,
      };
      this.convs.set(id, conv);
    }
    return conv;
  }

  /** A conv-list entry. Cursors only move forward, so an entry older than what the events said changes nothing. */
  describe(entry: ConversationEntry): Conv {
    const conv = this.conv(entry.convId);
    conv.kind = entry.conv.convType === 'single' ? 'single' : 'group';
    conv.name = entry.conv.convName;
    conv.owner = entry.conv.owner;
    conv.members = entry.links;
    conv.memberCount = entry.linkCount;
    conv.described = true;
    if (entry.links.length >= entry.linkCount) {
      for (const who of conv.readers.keys()) if (!entry.links.includes(who)) conv.readers.delete(who);
    }
    if (entry.lastMsg) this.track(conv, entry.lastMsg);
    conv.readSeq = Math.max(conv.readSeq, (entry.lastMsg?.Seq ?? 0) - entry.unreadNum);
    return conv;
  }

  /** A conversation this session just created or opened. */
  created(created: CreatedConversation): Conv {
    const conv = this.conv(created.convId);
    conv.kind = created.convType === 'single' ? 'single' : 'group';
    conv.name = created.convName;
    conv.owner = created.owner;
    conv.members = created.linkKeys;
    conv.memberCount = created.linkKeys.length;
    conv.described = true;
    return conv;
  }

  /** Forgets conversations conv-list no longer has (this session left or was removed). */
  keepOnly(ids: Set<string>): void {
    for (const id of this.convs.keys()) if (!ids.has(id)) this.convs.delete(id);
  }

  /**
   * A stored message (an event, a send's reply, a history page). Returns whether it was new
   * here; a tombstone already held is kept.
   */
  add(msg: MsgData): boolean {
    const conv = this.conv(msg.ConversationID);
    const held = conv.messages.get(msg.Seq);
    this.track(conv, msg);
    if (held && (held.Status !== MessageStatus.Normal || msg.Status === MessageStatus.Normal)) return false;
    conv.messages.set(msg.Seq, msg);
    return held === undefined;
  }

  /** A message became a tombstone (recalled for everyone, or deleted for this session). */
  tombstone(convId: string, seq: number, status: number, base?: MsgData): MsgData | null {
    const conv = this.convs.get(convId);
    const held = conv?.messages.get(seq) ?? base;
    if (!conv || !held) return null;
    const stone: MsgData = { ...held, Status: status, Content: '' };
    conv.messages.set(seq, stone);
    if (conv.last?.Seq === seq) conv.last = stone;
    return stone;
  }

  /** This session's read cursor moved (here or on another device). */
  read(convId: string, seq: number): void {
    const conv = this.convs.get(convId);
    if (conv) conv.readSeq = Math.max(conv.readSeq, seq);
  }

  /** `readers`' answer: every other member's cursor (and whether there are receipts at all). */
  readers(state: Readers): void {
    const conv = this.convs.get(state.convId);
    if (!conv) return;
    conv.receipts = state.receipts;
    // the members it names are the members now: one who left no longer counts
    const known = conv.readers;
    conv.readers = new Map();
    for (const { linkKey, seq } of state.readers) {
      if (linkKey !== this.me) conv.readers.set(linkKey, Math.max(seq, known.get(linkKey) ?? 0));
    }
  }

  /** Another member has read every message up to `seq`. Returns whether that moved their cursor. */
  readBy(convId: string, who: string, seq: number): boolean {
    const conv = this.convs.get(convId);
    if (!conv || who === this.me || seq <= (conv.readers.get(who) ?? 0)) return false;
    conv.readers.set(who, seq);
    return true;
  }

  /**
   * What to show under this session's messages: the latest of its own messages (not a tombstone)
   * that another member has read, and how many have (null: none read yet, or no receipts here).
   */
  receipt(conv: Conv): { seq: number; readers: string[] } | null {
    if (!conv.receipts || conv.readers.size === 0) return null;
    let furthest = 0;
    for (const seq of conv.readers.values()) furthest = Math.max(furthest, seq);
    let latest: number | null = null;
    for (const msg of conv.messages.values()) {
      if (msg.FromSession !== this.me || msg.Status !== MessageStatus.Normal || msg.Seq > furthest) continue;
      if (latest === null || msg.Seq > latest) latest = msg.Seq;
    }
    if (latest === null) return null;
    const seq = latest;
    const readers = [...conv.readers].filter(([, read]) => read >= seq).map(([who]) => who).sort();
    return { seq, readers };
  }

  unread(conv: Conv): number {
    return Math.max(0, conv.lastSeq - conv.readSeq);
  }

  /** Newest activity first; conversations without messages keep conv-list's order after them. */
  ordered(): Conv[] {
    return [...this.convs.values()].sort((a, b) => (b.last?.SendTime ?? '').localeCompare(a.last?.SendTime ?? ''));
  }

  /** The other member of a 1:1 conversation. */
  peer(conv: Conv): string | null {
    if (conv.kind !== 'single') return null;
    return conv.members.find((m) => m !== this.me) ?? null;
  }

  title(conv: Conv): string {
    if (conv.kind === 'single') return this.peer(conv) ?? (conv.name || 'Conversation');
    if (conv.name) return conv.name;
    const others = conv.members.filter((m) => m !== this.me);
    return others.length > 0 ? others.join(', ') : 'Group';
  }

  /** Loaded messages in `Seq` order. */
  messages(conv: Conv): MsgData[] {
    return [...conv.messages.values()].sort((a, b) => a.Seq - b.Seq);
  }

  /** The oldest loaded `Seq` (null: none loaded). */
  oldest(conv: Conv): number | null {
    let low: number | null = null;
    for (const seq of conv.messages.keys()) if (low === null || seq < low) low = seq;
    return low;
  }

  private track(conv: Conv, msg: MsgData): void {
    conv.lastSeq = Math.max(conv.lastSeq, msg.Seq);
    const last = conv.last;
    if (!last || msg.Seq > last.Seq || (msg.Seq === last.Seq && last.Status === MessageStatus.Normal)) conv.last = msg;
    // a sender has read what it sent (the server moves the sender's cursor, without a readBy push)
    if (msg.FromSession === this.me) conv.readSeq = Math.max(conv.readSeq, msg.Seq);
    else this.readBy(conv.id, msg.FromSession, msg.Seq);
  }
}
