import type { Aggregate, ColumnPoint, Fill } from "@trellis/contracts";
import { bucketStart, type MinuteExtras, type Stats } from "./rollup.ts";

/** One minute's rollup of one measurement as stored: `Stats`, and the extras when the minute has them. */
export type MinuteRollup = Stats & Partial<MinuteExtras>;

/** One bucket of one measurement: the minutes' stats combined; `sumSq` / `last` null when unknown. */
export interface BucketStats extends Stats {
  sumSq: number | null;
  last: number | null;
  /** Start of the latest minute with readings in the bucket (the one `last` comes from). */
  lastMinute: number;
}

/** Σv² of a minute, when every reading of the minute is in it (minutes older than `sumSq` are not). */
const minuteSumSq = (s: MinuteRollup): number | null =>
  s.sumSq !== undefined && s.sqCount === s.count ? s.sumSq : null;
/** `last` is written by the same readings as `sumSq`, so it is trusted under the same condition. */
const minuteLast = (s: MinuteRollup): number | null => (s.last !== undefined && s.sqCount === s.count ? s.last : null);

/**
 * Combines minute rollups into buckets of `sizeMs` (aligned to the epoch), keyed by bucket start.
 * The bucket's `last` is the `last` of its latest minute with readings: minutes do not overlap,
 * so the bucket's latest reading is in that minute.
 */
export function bucketsOf(minutes: readonly { minute: number; stats: MinuteRollup }[], sizeMs: number) {
  const buckets = new Map<number, BucketStats>();
  for (const { minute, stats } of minutes) {
    if (stats.count <= 0) continue;
    const start = bucketStart(minute, sizeMs);
    const prev = buckets.get(start);
    if (!prev) {
      buckets.set(start, {
        count: stats.count,
        sum: stats.sum,
        min: stats.min,
        max: stats.max,
        sumSq: minuteSumSq(stats),
        last: minuteLast(stats),
        lastMinute: minute,
      });
      continue;
    }
    const sq = minuteSumSq(stats);
    prev.count += stats.count;
    prev.sum += stats.sum;
    prev.min = Math.min(prev.min, stats.min);
    prev.max = Math.max(prev.max, stats.max);
    prev.sumSq = prev.sumSq === null || sq === null ? null : prev.sumSq + sq;
    if (minute > prev.lastMinute) {
      prev.lastMinute = minute;
      prev.last = minuteLast(stats);
    }
  }
  return buckets;
}

/**
 * Population standard deviation from count, Σv and Σv²: √(Σv²/n − mean²), clamped at 0 (rounding
 * can make the difference slightly negative when every value is the same).
 */
export function stddevOf(count: number, sum: number, sumSq: number): number {
  if (count <= 0) throw new RangeError("stddev of no values");
  const mean = sum / count;
  return Math.sqrt(Math.max(0, sumSq / count - mean * mean));
}

/** One aggregate of a bucket; null when the rollups do not hold what it needs. */
export function aggregateOf(b: BucketStats, aggregate: Aggregate): number | null {
  switch (aggregate) {
    case "avg":
      return b.sum / b.count;
    case "min":
      return b.min;
    case "max":
      return b.max;
    case "count":
      return b.count;
    case "sum":
      return b.sum;
    case "stddev":
      return b.sumSq === null ? null : stddevOf(b.count, b.sum, b.sumSq);
    case "last":
      return b.last;
  }
}

/** The starts of every bucket of `sizeMs` from the one holding `from` to the one holding `to`. */
export function bucketGrid(from: number, to: number, sizeMs: number): number[] {
  const out: number[] = [];
  for (let s = bucketStart(from, sizeMs); s <= bucketStart(to, sizeMs); s += sizeMs) out.push(s);
  return out;
}

/**
 * One value per bucket of the grid (`undefined`: no readings there; `null`: readings, but the
 * value is unknown) → the points `fill` asks for. Only empty buckets are filled; `previous` and
 * `linear` take their neighbours among the buckets with a value, within the grid only.
 */
export function fillGaps(
  grid: readonly number[],
  values: ReadonlyMap<number, number | null>,
  fill: Fill,
): ColumnPoint[] {
  if (fill === "none") {
    return grid.flatMap((start) => (values.has(start) ? [{ start, value: values.get(start) ?? null }] : []));
  }
  const points: ColumnPoint[] = grid.map((start) => ({ start, value: values.get(start) ?? null }));
  if (fill === "null") return points;
  const empty = (i: number) => !values.has(grid[i] as number);
  if (fill === "previous") {
    let prev: number | null = null;
    for (const [i, p] of points.entries()) {
      if (empty(i)) p.value = prev;
      else prev = p.value;
    }
    return points;
  }
  // linear: each run of empty buckets between the nearest non-empty buckets either side, when both have a value.
  let left = -1;
  for (let i = 0; i < points.length; i++) {
    if (!empty(i)) {
      left = (points[i] as ColumnPoint).value === null ? -1 : i;
      continue;
    }
    let right = i + 1;
    while (right < points.length && empty(right)) right++;
    const l = points[left];
    const r = points[right];
    if (left >= 0 && l && r && l.value !== null && r.value !== null) {
      for (let k = i; k < right; k++) {
        const p = points[k] as ColumnPoint;
        p.value = l.value + ((r.value - l.value) * (p.start - l.start)) / (r.start - l.start);
      }
    }
    i = right - 1;
  }
  return points;
}

/**
 * One column of a series: the aggregate of each bucket, gaps filled. A `count` column is not
 * filled: an empty bucket counts 0 (left out with `none`).
 */
export function columnPoints(
  buckets: ReadonlyMap<number, BucketStats>,
  aggregate: Aggregate,
  grid: readonly number[],
  fill: Fill,
): ColumnPoint[] {
  const values = new Map<number, number | null>();
  for (const [start, b] of buckets) values.set(start, aggregateOf(b, aggregate));
  if (aggregate === "count" && fill !== "none") {
    return grid.map((start) => ({ start, value: values.get(start) ?? 0 }));
  }
  return fillGaps(grid, values, fill);
}
