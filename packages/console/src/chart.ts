import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const PALETTE = ["#2f7ed8", "#d9534f", "#5cb85c", "#f0ad4e", "#8e44ad", "#16a085", "#e67e22", "#7f8c8d"];

/**
 * A live chart that keeps a fixed window of points, whatever the rate: each series is a
 * preallocated Float64Array written twice (at i and i + capacity), so the newest `capacity`
 * points are always one contiguous view handed to uPlot without copying. Memory is fixed at
 * creation; drawing happens at most once per animation frame however many readings arrive.
 */
export class LiveChart {
  readonly plot: uPlot;
  private readonly xs: Float64Array;
  private readonly ys: Float64Array[];
  private head = 0;
  private count = 0;
  private pending = false;
  frames = 0;
  points = 0;

  constructor(
    el: HTMLElement,
    readonly names: string[],
    readonly capacity = 20_000,
  ) {
    this.xs = new Float64Array(capacity * 2);
    this.ys = names.map(() => new Float64Array(capacity * 2));
    this.plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 300,
        scales: { x: { time: true } },
        series: [{}, ...names.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 1.5 }))],
        axes: [{ stroke: "currentColor" }, { stroke: "currentColor" }],
        cursor: { drag: { x: true, y: false } },
      },
      [[], ...names.map(() => [])],
      el,
    );
  }

  push(atMs: number, values: Record<string, number>) {
    const i = this.head;
    const t = atMs / 1000;
    this.xs[i] = t;
    this.xs[i + this.capacity] = t;
    this.names.forEach((n, k) => {
      const y = this.ys[k] as Float64Array;
      // A measurement missing from a reading keeps its previous value (typed arrays hold no null).
      const v = values[n] ?? (this.count > 0 ? (y[(i + this.capacity - 1) % this.capacity] as number) : 0);
      y[i] = v;
      y[i + this.capacity] = v;
    });
    this.head = (i + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.points++;
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => this.draw());
    }
  }

  private draw() {
    this.pending = false;
    const start = this.count < this.capacity ? 0 : this.head;
    const end = start + this.count;
    this.plot.setData([
      this.xs.subarray(start, end),
      ...this.ys.map((y) => y.subarray(start, end)),
    ] as unknown as uPlot.AlignedData);
    this.frames++;
  }

  resize(width: number) {
    this.plot.setSize({ width, height: 300 });
  }

  destroy() {
    this.plot.destroy();
  }
}

/** A static chart of history (series API columns, nulls for empty buckets). */
export function historyChart(el: HTMLElement, xs: number[], series: { label: string; values: (number | null)[] }[]) {
  return new uPlot(
    {
      width: el.clientWidth || 600,
      height: 300,
      scales: { x: { time: true } },
      series: [
        {},
        ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false })),
      ],
      axes: [{ stroke: "currentColor" }, { stroke: "currentColor" }],
    },
    [xs, ...series.map((s) => s.values)] as uPlot.AlignedData,
    el,
  );
}
