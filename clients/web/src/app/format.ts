// How things read on screen: times, message previews, errors, keys.

import { ErrorCode, HeraldError, MessageStatus, type MsgData } from 'herald-client';

/** "14:05" today, "Mon 14:05" this week, else the date. */
export function shortTime(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (at.toDateString() === now.toDateString()) return time;
  if (now.getTime() - at.getTime() < 6 * 86_400_000) return `${at.toLocaleDateString([], { weekday: 'short' })} ${time}`;
  return at.toLocaleDateString();
}

const TYPE_NAMES: Record<number, string> = { 2: 'image', 3: 'video', 4: 'audio', 5: 'duration', 6: 'location' };

/** The text a message shows: its content, or what became of it. */
export function messageText(msg: MsgData, me: string): string {
  if (msg.Status === MessageStatus.Recalled) return msg.FromSession === me ? 'You recalled a message' : `${msg.FromSession} recalled a message`;
  if (msg.Status === MessageStatus.DeletedForMe) return 'You deleted this message';
  const kind = TYPE_NAMES[msg.Type];
  return kind ? `[${kind}] ${msg.Content}` : msg.Content;
}

/** One line for the conversation list. */
export function preview(msg: MsgData | null, me: string, group: boolean): string {
  if (!msg) return 'No messages yet';
  const text = messageText(msg, me).replace(/\s+/g, ' ');
  if (msg.Status !== MessageStatus.Normal) return text;
  if (msg.FromSession === me) return `You: ${text}`;
  return group ? `${msg.FromSession}: ${text}` : text;
}

/** What the server or the SDK said, plainly, with the server's code ("… (error 1003)"). */
export function describe(error: unknown): string {
  if (error instanceof HeraldError) {
    const hint = HINTS[String(error.code)];
    const code = typeof error.code === 'number' ? ` (error ${error.code})` : '';
    return `${hint ? `${hint}: ` : ''}${error.message}${code}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

const HINTS: Record<string, string> = {
  [ErrorCode.NotFriends]: 'Not friends',
  [ErrorCode.RefusedBySpam]: 'Held back by anti-spam',
  [ErrorCode.RateLimited]: 'Too fast',
  [ErrorCode.NotMember]: 'Not a member',
  [ErrorCode.RefusedByApp]: 'Refused by the app',
  [ErrorCode.TooLarge]: 'Too large',
  timeout: 'No answer',
  disconnected: 'Connection lost',
  closed: 'Not connected',
};

/** An idempotency key for a send: random, from crypto.getRandomValues (plain http has no randomUUID). */
export function newMsgKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** User names from a field: separated by commas or spaces, each once. */
export function names(text: string, except?: string): string[] {
  const out: string[] = [];
  for (const name of text.split(/[\s,]+/)) {
    if (name && name !== except && !out.includes(name)) out.push(name);
  }
  return out;
}
