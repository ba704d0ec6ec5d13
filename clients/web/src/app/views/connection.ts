// The connection state, always visible: connecting / online / reconnecting in N s / offline,
// from the SDK's `state` event and the browser's own online flag.

import type { StateChange } from 'herald-client';
import { h } from '../../shared/dom';

export interface ConnectionView {
  el: HTMLElement;
  set(change: StateChange, why?: string): void;
  dispose(): void;
}

/** The words for a state; `left` is the time until the next attempt, in ms. */
export function connectionText(change: StateChange, online: boolean, left: number): { text: string; tone: string } {
  if (!online && change.state !== 'open') return { text: 'Offline', tone: 'offline' };
  switch (change.state) {
    case 'open':
      return { text: 'Online', tone: 'online' };
    case 'reconnecting':
      return left > 0 ? { text: `Reconnecting in ${Math.ceil(left / 1000)} s`, tone: 'waiting' } : { text: 'Reconnecting…', tone: 'waiting' };
    case 'closed':
      return { text: 'Offline', tone: 'offline' };
    default:
      return { text: 'Connecting…', tone: 'waiting' };
  }
}

export function connectionView(onReconnect: () => void): ConnectionView {
  const text = h('span', { class: 'conn-text' });
  const detail = h('span', { class: 'conn-detail' });
  const again = h('button', { type: 'button', class: 'link', hidden: true, onclick: onReconnect }, 'Reconnect');
  const el = h('p', { class: 'conn', role: 'status', 'aria-label': 'Connection' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), text, detail, again);
  let change: StateChange = { state: 'connecting', attempt: 1 };
  let due = 0;
  let why = '';
  let timer: ReturnType<typeof setInterval> | undefined;

  const render = () => {
    const shown = connectionText(change, navigator.onLine, due - Date.now());
    if (text.textContent !== shown.text) text.textContent = shown.text;
    el.dataset.tone = shown.tone;
    detail.textContent = change.state === 'closed' && why ? ` (${why})` : '';
    again.hidden = change.state !== 'closed';
    if (change.state !== 'reconnecting' && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const network = () => render();
  window.addEventListener('online', network);
  window.addEventListener('offline', network);
  render();

  return {
    el,
    set(next, reason = '') {
      change = next;
      why = reason;
      due = Date.now() + (next.delayMs ?? 0);
      if (next.state === 'reconnecting' && timer === undefined) timer = setInterval(render, 250);
      render();
    },
    dispose() {
      clearInterval(timer);
      window.removeEventListener('online', network);
      window.removeEventListener('offline', network);
    },
  };
}
