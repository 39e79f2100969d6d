import type { Measurement } from "@trellis/contracts";
import { bucketStart, isLater, MINUTE_MS } from "./rollup.ts";
import type { MinuteRollup } from "./series.ts";

export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** The resolutions rollups are kept at, finest first. */
export const RESOLUTIONS = ["minute", "hour", "day"] as const;
export type Resolution = (typeof RESOLUTIONS)[number];
export const RESOLUTION_MS: Record<Resolution, number> = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS };

/** A rollup of one measurement over a piece of time (a minute, an hour or a day) starting at `start`. */
export interface Piece {
  start: number;
  stats: MinuteRollup;
}

/**
 * Merges the rollups of consecutive, non-overlapping pieces (minutes into an hour, hours into a
 * day) into one rollup that merges again the same way: counts, sums, Σv² and its count add up,
 * min/max are the extremes, and `(lastAt, last)` is the latest pair. Σv² stays trustworthy
 * exactly when every piece's was (`sqCount === count` of the result), and `last` is kept only
 * when the latest piece with readings has one, as `bucketsOf` reads them. Null for no readings.
 */
export function mergePieces(pieces: readonly Piece[]): MinuteRollup | null {
  let out: MinuteRollup | null = null;
  let latestStart = Number.NEGATIVE_INFINITY;
  for (const { start, stats } of pieces) {
    if (stats.count <= 0) continue;
    if (!out) {
      out = { count: 0, sum: 0, min: stats.min, max: stats.max, sumSq: 0, sqCount: 0 };
    }
    out.count += stats.count;
    out.sum += stats.sum;
    out.min = Math.min(out.min, stats.min);
    out.max = Math.max(out.max, stats.max);
    out.sumSq = (out.sumSq ?? 0) + (stats.sumSq ?? 0);
    out.sqCount = (out.sqCount ?? 0) + (stats.sqCount ?? 0);
    if (start > latestStart) {
      latestStart = start;
      if (stats.last !== undefined && stats.lastAt !== undefined) {
        out.last = stats.last;
        out.lastAt = stats.lastAt;
      } else {
        delete out.last;
        delete out.lastAt;
      }
    } else if (
      start === latestStart &&
      stats.last !== undefined &&
      stats.lastAt !== undefined &&
      out.last !== undefined &&
      out.lastAt !== undefined &&
      isLater(stats.lastAt, stats.last, out.lastAt, out.last)
    ) {
      out.last = stats.last;
      out.lastAt = stats.lastAt;
    }
  }
  return out;
}

/** How long each resolution is kept, in days (0: forever). */
export type RetentionWindows = Record<Resolution, number>;

/**
 * The resolution a series is read at: among those whose pieces fit whole in a bucket of `sizeMs`
 * (a 15-minute interval can only be built from minutes; `1d` from minutes, hours or days), the
 * finest whose retention still reaches back to `from`; when none does, the coarsest of them (it
 * keeps the most history).
 */
export function chooseResolution(from: number, sizeMs: number, now: number, windows: RetentionWindows): Resolution {
  const fitting = RESOLUTIONS.filter((r) => sizeMs % RESOLUTION_MS[r] === 0);
  const covering = fitting.find((r) => windows[r] === 0 || from >= now - windows[r] * DAY_MS);
  return covering ?? (fitting.at(-1) as Resolution);
}

/** One time range of a series read from one resolution's pieces (`[from, to)`). */
export interface SourceRange {
  resolution: Resolution;
  from: number;
  to: number;
}

/**
 * Which pieces to read for `[fromMs, toMs]` at `resolution`: hourly pieces exist for hours before
 * `hoursDone` (the monitor's downsampling watermark), daily ones for the whole days before it;
 * what comes after is read from the finer pieces, which are kept until they are downsampled. The
 * ranges do not overlap, so every reading is counted once.
 */
export function sourceRanges(
  resolution: Resolution,
  fromMs: number,
  toMs: number,
  hoursDone: number | null,
): SourceRange[] {
  const start = bucketStart(fromMs, RESOLUTION_MS[resolution]);
  const end = toMs + 1;
  if (resolution === "minute" || hoursDone === null) return [{ resolution: "minute", from: start, to: end }];
  const daysDone = bucketStart(hoursDone, DAY_MS);
  const cuts: { resolution: Resolution; until: number }[] =
    resolution === "day"
      ? [
          { resolution: "day", until: daysDone },
          { resolution: "hour", until: hoursDone },
        ]
      : [{ resolution: "hour", until: hoursDone }];
  const out: SourceRange[] = [];
  let at = start;
  for (const c of cuts) {
    const until = Math.min(c.until, end);
    if (until > at) {
      out.push({ resolution: c.resolution, from: at, to: until });
      at = until;
    }
  }
  if (at < end) out.push({ resolution: "minute", from: at, to: end });
  return out;
}

/** A rollup document of any resolution: its start and each measurement's rollup. */
export interface TierDoc {
  start: number;
  m: Partial<Record<Measurement, MinuteRollup>>;
}

/**
 * Finer documents (minutes, or hours) → one document per coarser piece of `sizeMs` holding them,
 * each measurement merged with `mergePieces`. Pieces without readings leave no trace.
 */
export function downsampleDocs(docs: readonly TierDoc[], sizeMs: number): TierDoc[] {
  const byStart = new Map<number, Map<Measurement, Piece[]>>();
  for (const d of docs) {
    const start = bucketStart(d.start, sizeMs);
    let group = byStart.get(start);
    if (!group) {
      group = new Map();
      byStart.set(start, group);
    }
    for (const [m, stats] of Object.entries(d.m) as [Measurement, MinuteRollup][]) {
      if (!stats || stats.count <= 0) continue;
      const list = group.get(m);
      if (list) list.push({ start: d.start, stats });
      else group.set(m, [{ start: d.start, stats }]);
    }
  }
  const out: TierDoc[] = [];
  for (const [start, group] of [...byStart.entries()].sort(([a], [b]) => a - b)) {
    const m: Partial<Record<Measurement, MinuteRollup>> = {};
    for (const [measurement, pieces] of group) {
      const merged = mergePieces(pieces);
      if (merged) m[measurement] = merged;
    }
    if (Object.keys(m).length > 0) out.push({ start, m });
  }
  return out;
}
