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
