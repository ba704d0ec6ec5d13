// The live view: Herald's `/metrics` scraped every 2 s and drawn as small charts. /metrics is
// served on the public address only when the server has no separate admin address
// (HERALD_ADMIN_ADDR); otherwise the view says so instead of failing.

import { figures, parsePrometheus, type Scrape } from '../metrics';
import { Sparkline } from '../sparkline';
import { h } from '../../shared/dom';
import type { View } from './view';

const EVERY_MS = 2000;

const count = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
const perSecond = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`;
const duration = (seconds: number) => (seconds < 1 ? `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms` : `${seconds.toFixed(2)} s`);
const breakdown = (groups: Map<string, number>) =>
  [...groups].filter(([, v]) => v > 0).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k || '—'} ${count(v)}`).join(' · ');

export function liveView(): View {
  const connections = new Sparkline('Connections', count);
  const messages = new Sparkline('Messages per second', perSecond);
  const pending = new Sparkline('Consumer lag (entries waiting)', count);
  const lag = new Sparkline('Delivery lag', duration);
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Reading /metrics…');

  let previous: Scrape | null = null;
  let timer: number | undefined;
  let stopped = false;
  let failing = false;

  const scrape = async () => {
    try {
      const response = await fetch('/metrics', { cache: 'no-store', headers: { accept: 'text/plain' } });
      const type = response.headers.get('content-type') ?? '';
      if (!response.ok || !type.startsWith('text/plain')) throw new Error(`HTTP ${response.status}`);
      const now: Scrape = { at: performance.now(), samples: parsePrometheus(await response.text()) };
      const f = figures(now, previous);
      previous = now;
      connections.push(f.connections, breakdown(f.connectionsByProtocol) || (f.sessionsOnline === null ? '' : `${f.sessionsOnline} sessions online`));
      messages.push(f.messagesPerSecond, 'messages durably stored');
      pending.push(f.consumerPending, breakdown(f.consumerPendingByRole) || 'nothing waiting');
      lag.push(f.deliveryLagSeconds, f.deliveryLagSeconds === null ? 'no message delivered in the last 2 s' : 'mean, sequencing to fan-out');
      failing = false;
      status.className = 'status info';
      status.textContent = `Live · updated ${new Date().toLocaleTimeString()} · every ${EVERY_MS / 1000} s`;
    } catch (error) {
      previous = null;
      if (!failing) {
        failing = true;
        status.className = 'status warning';
        status.textContent =
          `The server's metrics are not reachable at /metrics on this address (${error instanceof Error ? error.message : String(error)}). ` +
          'When Herald runs with a separate admin address (HERALD_ADMIN_ADDR), /metrics is served only there: ' +
          'point Prometheus or Grafana at it. Trying again every 2 s.';
      }
    } finally {
      if (!stopped) timer = window.setTimeout(() => void scrape(), EVERY_MS);
    }
  };
  void scrape();

  return {
    title: 'Live',
    el: h('section', { class: 'stack' },
      h('h1', {}, 'Live view'),
      h('p', { class: 'muted small' }, 'This server, from its Prometheus metrics, the last two minutes.'),
      status,
      h('div', { class: 'charts' }, connections.el, messages.el, pending.el, lag.el),
    ),
    dispose() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}
