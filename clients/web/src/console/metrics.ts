// Reads Herald's `/metrics` (Prometheus text format 0.0.4) in the page and turns two scrapes
// into the figures the live view draws. Metric names are those of
// services/herald/src/catalogue.rs.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format: `name{label="v",…} value [timestamp]`; comments and
 *  malformed lines are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample) samples.push(sample);
  }
  return samples;
}

function parseLine(line: string): Sample | null {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) return null;
  const name = nameMatch[0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    let i = 1;
    for (;;) {
      while (rest[i] === ' ' || rest[i] === ',') i++;
      if (rest[i] === '}') {
        i++;
        break;
      }
      const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(rest.slice(i));
      if (!key) return null;
      i += key[0].length;
      if (rest[i] !== '=' || rest[i + 1] !== '"') return null;
      i += 2;
      let value = '';
      for (;;) {
        const c = rest[i];
        if (c === undefined) return null;
        if (c === '\\') {
          const next = rest[i + 1];
          value += next === 'n' ? '\n' : (next ?? '');
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      labels[key[0]] = value;
    }
    rest = rest.slice(i);
  }
  const fields = rest.trim().split(/\s+/);
  const text = fields[0];
  if (text === undefined || text === '') return null;
  const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  if (Number.isNaN(value) && text !== 'NaN') return null;
  return { name, labels, value };
}

/** The sum of every series of `name` (all label values), or null when there is none. */
export function sum(samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true): number | null {
  let total: number | null = null;
  for (const s of samples) {
    if (s.name === name && where(s.labels) && Number.isFinite(s.value)) total = (total ?? 0) + s.value;
  }
  return total;
}

/** Sums of `name` grouped by one label, e.g. connections by protocol. */
export function byLabel(samples: Sample[], name: string, label: string): Map<string, number> {
  const groups = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name || !Number.isFinite(s.value)) continue;
    const key = s.labels[label] ?? '';
    groups.set(key, (groups.get(key) ?? 0) + s.value);
  }
  return groups;
}

/** A scrape with the time it was taken. */
export interface Scrape {
  at: number;
  samples: Sample[];
}

/** The figures of the live view at one scrape; rates need the scrape before. */
export interface Figures {
  connections: number;
  connectionsByProtocol: Map<string, number>;
  sessionsOnline: number | null;
  /** Messages durably appended per second since the previous scrape. */
  messagesPerSecond: number | null;
  /** Log entries waiting behind consumers (all roles and partitions). */
  consumerPending: number | null;
  consumerPendingByRole: Map<string, number>;
  /** Mean time from sequencing to fan-out of the messages delivered since the previous scrape
   *  (null when none was). */
  deliveryLagSeconds: number | null;
}

/** A counter's increase between two scrapes; a counter that went down was reset (restart). */
function increase(before: number | null, after: number | null): number | null {
  if (after === null) return null;
  if (before === null || after < before) return after;
  return after - before;
}

export function figures(now: Scrape, previous: Scrape | null): Figures {
  const s = now.samples;
  const seconds = previous ? (now.at - previous.at) / 1000 : 0;
  let messagesPerSecond: number | null = null;
  let deliveryLagSeconds: number | null = null;
  if (previous && seconds > 0) {
    const p = previous.samples;
    const appended = increase(sum(p, 'herald_appends_total'), sum(s, 'herald_appends_total'));
    messagesPerSecond = appended === null ? null : appended / seconds;
    const lagSum = increase(sum(p, 'herald_delivery_lag_seconds_sum'), sum(s, 'herald_delivery_lag_seconds_sum'));
    const lagCount = increase(sum(p, 'herald_delivery_lag_seconds_count'), sum(s, 'herald_delivery_lag_seconds_count'));
    // No delivery since the last scrape: no figure (a gap), rather than a lag of zero.
    deliveryLagSeconds = lagSum !== null && lagCount ? lagSum / lagCount : null;
  }
  return {
    connections: sum(s, 'herald_connections') ?? 0,
    connectionsByProtocol: byLabel(s, 'herald_connections', 'protocol'),
    sessionsOnline: sum(s, 'herald_sessions_online'),
    messagesPerSecond,
    consumerPending: sum(s, 'herald_consumer_pending'),
    consumerPendingByRole: byLabel(s, 'herald_consumer_pending', 'role'),
    deliveryLagSeconds,
  };
}
