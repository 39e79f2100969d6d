import { type Measurement, type SeriesPoint, TrellisError } from "@trellis/contracts";
import type { NormalizedReading } from "./reading.ts";

export const MINUTE_MS = 60_000;
const UNIT_MS = { m: MINUTE_MS, h: 60 * MINUTE_MS, d: 24 * 60 * MINUTE_MS } as const;

/** Most buckets one series request may return. */
export const MAX_SERIES_BUCKETS = 10_000;
/** Most minute documents one series request may read (400 days). */
export const MAX_SERIES_SPAN_MS = 400 * UNIT_MS.d;

/** Running aggregate of one measurement in one bucket. */
export interface Stats {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** Start of the bucket of size `sizeMs` holding `at`; buckets are aligned to the epoch. */
export const bucketStart = (at: number, sizeMs: number): number => Math.floor(at / sizeMs) * sizeMs;
export const minuteStart = (at: number): number => bucketStart(at, MINUTE_MS);

/** `15m` → 900000. Throws `invalid_argument` for anything else than `<n>m`, `<n>h`, `<n>d` with n ≥ 1. */
export function parseInterval(interval: string): number {
  const match = /^([1-9]\d*)([mhd])$/.exec(interval);
  if (!match) throw new TrellisError("invalid_argument", "interval must look like 1m, 15m, 1h or 1d");
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

export const addStats = (a: Stats, b: Stats): Stats => ({
  count: a.count + b.count,
  sum: a.sum + b.sum,
  min: Math.min(a.min, b.min),
  max: Math.max(a.max, b.max),
});

const single = (v: number): Stats => ({ count: 1, sum: v, min: v, max: v });

/** The rollup increments of a batch: per monitor and minute, per measurement. */
export interface RollupIncrement {
  monitorId: string;
  minute: number;
  stats: Partial<Record<Measurement, Stats>>;
}

/** Folds a batch of readings into one increment per monitor and minute (one upsert each). */
export function rollupIncrements(readings: readonly { monitorId: string; reading: NormalizedReading }[]) {
  const byKey = new Map<string, RollupIncrement>();
  for (const { monitorId, reading } of readings) {
    const minute = minuteStart(reading.at);
    const key = `${monitorId}:${minute}`;
    let inc = byKey.get(key);
    if (!inc) {
      inc = { monitorId, minute, stats: {} };
      byKey.set(key, inc);
    }
    for (const [m, v] of Object.entries(reading.values) as [Measurement, number][]) {
      const prev = inc.stats[m];
      inc.stats[m] = prev ? addStats(prev, single(v)) : single(v);
    }
  }
  return [...byKey.values()].filter((i) => Object.keys(i.stats).length > 0);
}

/** A validated series request: the bucket size and the minute range to read. */
export interface SeriesPlan {
  sizeMs: number;
  /** First minute document to read (inclusive). */
  fromMinute: number;
  /** Last minute document to read (inclusive). */
  toMinute: number;
}

/**
 * Checks a series window. The minute documents overlapping `[from, to]` are read; buckets are
 * aligned to the epoch, so the first and last bucket may cover only part of their interval.
 */
export function planSeries(from: number, to: number, interval: string): SeriesPlan {
  const sizeMs = parseInterval(interval);
  if (to < from) throw new TrellisError("invalid_argument", "to must not be before from");
  if (to - from > MAX_SERIES_SPAN_MS) {
    throw new TrellisError("invalid_argument", "the window must not exceed 400 days");
  }
  const buckets = (bucketStart(to, sizeMs) - bucketStart(from, sizeMs)) / sizeMs + 1;
  if (buckets > MAX_SERIES_BUCKETS) {
    throw new TrellisError(
      "invalid_argument",
      `the window holds ${buckets} buckets of ${interval}; at most ${MAX_SERIES_BUCKETS} are allowed`,
    );
  }
  return { sizeMs, fromMinute: minuteStart(from), toMinute: minuteStart(to) };
}

/** Combines minute rollups into buckets of `sizeMs`, oldest first; empty buckets are left out. */
export function combineMinutes(minutes: readonly { minute: number; stats: Stats }[], sizeMs: number): SeriesPoint[] {
  const buckets = new Map<number, Stats>();
  for (const { minute, stats } of minutes) {
    if (stats.count <= 0) continue;
    const start = bucketStart(minute, sizeMs);
    const prev = buckets.get(start);
    buckets.set(start, prev ? addStats(prev, stats) : stats);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, s]) => ({ start, count: s.count, avg: s.sum / s.count, min: s.min, max: s.max }));
}

/**
 * What a minute's rollup holds beyond `Stats` for `stddev` and `last` (rollups written before
 * these existed lack them). Per measurement:
 * - `sumSq` (Σv²) and `sqCount` (how many readings added to it) are `$inc`ed like `count` and
 *   `sum`, so two instances writing the same minute add up in any order. `sqCount` tells whether
 *   every reading of the minute is in `sumSq`: a minute that began before `sumSq` existed has
 *   `sqCount < count`, and its stddev is unknown (null) rather than wrong.
 * - `last` / `lastAt`: the value and time of the minute's latest reading. Two fields cannot be
 *   updated together by `$max`, so the store writes both in one conditional update that matches
 *   only while the stored `(lastAt, last)` is smaller than the candidate (ties in time broken by
 *   the larger value): the document's final pair is the maximum of all candidates whatever the
 *   order of the writers, and replaying a candidate changes nothing.
 */
export interface MinuteExtras {
  sumSq: number;
  sqCount: number;
  last: number;
  lastAt: number;
}

/** The extras of a batch, per monitor and minute and measurement (same keys as `rollupIncrements`). */
export interface RollupExtra {
  monitorId: string;
  minute: number;
  extras: Partial<Record<Measurement, MinuteExtras>>;
}

/** `(at, value)` is later than `(lastAt, last)`: later in time, or the same ms with a larger value. */
export const isLater = (at: number, value: number, lastAt: number, last: number): boolean =>
  at > lastAt || (at === lastAt && value > last);

/** Folds a batch of readings into one extra per monitor and minute: Σv², its count, and the latest (time, value). */
export function rollupExtras(readings: readonly { monitorId: string; reading: NormalizedReading }[]): RollupExtra[] {
  const byKey = new Map<string, RollupExtra>();
  for (const { monitorId, reading } of readings) {
    const minute = minuteStart(reading.at);
    const key = `${monitorId}:${minute}`;
    let extra = byKey.get(key);
    if (!extra) {
      extra = { monitorId, minute, extras: {} };
      byKey.set(key, extra);
    }
    for (const [m, v] of Object.entries(reading.values) as [Measurement, number][]) {
      const prev = extra.extras[m];
      if (!prev) {
        extra.extras[m] = { sumSq: v * v, sqCount: 1, last: v, lastAt: reading.at };
        continue;
      }
      prev.sumSq += v * v;
      prev.sqCount += 1;
      if (isLater(reading.at, v, prev.lastAt, prev.last)) {
        prev.last = v;
        prev.lastAt = reading.at;
      }
    }
  }
  return [...byKey.values()].filter((e) => Object.keys(e.extras).length > 0);
}
