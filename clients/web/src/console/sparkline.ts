// A small line chart of the last few minutes of one figure, drawn as inline SVG (no canvas, no
// library): the line, the area under it, the current value in words for screen readers.

import { h, svg } from '../shared/dom';

const WIDTH = 240;
const HEIGHT = 56;
/** Two minutes of points at one scrape every 2 s. */
export const POINTS = 60;

export class Sparkline {
  readonly el: HTMLElement;
  private readonly values: (number | null)[] = [];
  private readonly chart: SVGSVGElement;
  private readonly line: SVGPolylineElement;
  private readonly area: SVGPolygonElement;
  private readonly current: HTMLElement;
  private readonly detail: HTMLElement;

  constructor(
    private readonly title: string,
    private readonly format: (value: number) => string,
  ) {
    this.chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none', class: 'spark' });
    this.chart.setAttribute('role', 'img');
    this.area = svg('polygon', { class: 'spark-area', points: '' });
    this.line = svg('polyline', { class: 'spark-line', points: '' });
    this.chart.append(this.area, this.line);
    this.current = h('span', { class: 'chart-value' }, '–');
    this.detail = h('small', { class: 'chart-detail' });
    this.el = h(
      'figure',
      { class: 'chart' },
      h('figcaption', {}, h('span', { class: 'chart-title' }, title), this.current),
      this.chart,
      this.detail,
    );
    this.label();
  }

  /** Adds the newest value (null: not measured this time) and redraws. */
  push(value: number | null, detail = ''): void {
    this.values.push(value);
    if (this.values.length > POINTS) this.values.shift();
    this.current.textContent = value === null ? '–' : this.format(value);
    this.detail.textContent = detail;
    this.draw();
    this.label();
  }

  /** How many points the chart holds (the tests read it from the markup as well). */
  get length(): number {
    return this.values.length;
  }

  private label(): void {
    const last = this.values.at(-1);
    const now = last === null || last === undefined ? 'no data yet' : `now ${this.format(last)}`;
    this.chart.setAttribute('aria-label', `${this.title} chart, ${now}`);
  }

  private draw(): void {
    const known = this.values.filter((v): v is number => v !== null);
    const top = Math.max(1, ...known) * 1.15;
    const step = WIDTH / (POINTS - 1);
    const offset = WIDTH - (this.values.length - 1) * step;
    const points: string[] = [];
    this.values.forEach((v, i) => {
      if (v === null) return;
      const x = offset + i * step;
      const y = HEIGHT - 2 - (v / top) * (HEIGHT - 4);
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    this.line.setAttribute('points', points.join(' '));
    this.chart.dataset['points'] = String(points.length);
    const first = points[0];
    const last = points.at(-1);
    if (first && last && points.length > 1) {
      this.area.setAttribute('points', `${first.split(',')[0]},${HEIGHT} ${points.join(' ')} ${last.split(',')[0]},${HEIGHT}`);
    } else {
      this.area.setAttribute('points', '');
    }
  }
}
