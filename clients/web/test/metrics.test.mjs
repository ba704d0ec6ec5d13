// The live view's reading of /metrics, on its own: the page's parser (src/console/metrics.ts,
// bundled here as the build bundles it) against Prometheus text as Herald writes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as esbuild from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundled = await esbuild.build({
  entryPoints: [join(root, 'src/console/metrics.ts')],
  bundle: true,
  format: 'esm',
  write: false,
});
const { parsePrometheus, sum, byLabel, figures } = await import(
  `data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`
);

const scrape1 = `# HELP herald_connections Open client connections by protocol (ws, notify_ws, sse, poll).
# TYPE herald_connections gauge
herald_connections{protocol="ws"} 3
herald_connections{protocol="sse"} 1
herald_appends_total 100
herald_consumer_pending{role="delivery",partition="0"} 2
herald_consumer_pending{role="sequencer",partition="1"} 5
herald_delivery_lag_seconds_bucket{le="+Inf"} 10
herald_delivery_lag_seconds_sum 0.05
herald_delivery_lag_seconds_count 10
odd_metric{path="a \\"quoted\\" \\\\ value",x="y"} NaN 1700000000000
weird_gauge +Inf
not a metric line
`;

test('parses names, labels with escapes, special values and timestamps; skips comments and junk', () => {
  const samples = parsePrometheus(scrape1);
  assert.equal(samples.length, 10);
  assert.deepEqual(samples[0], { name: 'herald_connections', labels: { protocol: 'ws' }, value: 3 });
  const odd = samples.find((s) => s.name === 'odd_metric');
  assert.deepEqual(odd.labels, { path: 'a "quoted" \\ value', x: 'y' });
  assert.ok(Number.isNaN(odd.value));
  assert.equal(samples.find((s) => s.name === 'weird_gauge').value, Infinity);
  assert.deepEqual(samples.find((s) => s.name === 'herald_delivery_lag_seconds_bucket').labels, { le: '+Inf' });
  assert.equal(sum(samples, 'herald_connections'), 4);
  assert.equal(sum(samples, 'absent_metric'), null);
  assert.deepEqual([...byLabel(samples, 'herald_consumer_pending', 'role')], [['delivery', 2], ['sequencer', 5]]);
});

test('figures: gauges summed, rates from two scrapes, mean lag of the interval, counter resets', () => {
  const first = { at: 0, samples: parsePrometheus(scrape1) };
  const alone = figures(first, null);
  assert.equal(alone.connections, 4);
  assert.equal(alone.messagesPerSecond, null, 'no rate from one scrape');
  assert.equal(alone.consumerPending, 7);

  const second = {
    at: 2000,
    samples: parsePrometheus(`herald_appends_total 130
herald_delivery_lag_seconds_sum 0.11
herald_delivery_lag_seconds_count 40
`),
  };
  const f = figures(second, first);
  assert.equal(f.messagesPerSecond, 15, '30 messages in 2 s');
  assert.ok(Math.abs(f.deliveryLagSeconds - 0.002) < 1e-12, `0.06 s over 30 deliveries: ${f.deliveryLagSeconds}`);
  assert.equal(f.connections, 0, 'no connection series: none open');

  const quiet = figures({ at: 4000, samples: second.samples }, second);
  assert.equal(quiet.messagesPerSecond, 0);
  assert.equal(quiet.deliveryLagSeconds, null, 'nothing delivered: no lag figure');

  const restarted = figures({ at: 4000, samples: parsePrometheus('herald_appends_total 8\n') }, second);
  assert.equal(restarted.messagesPerSecond, 4, 'a counter that went down restarted from 0');
});
