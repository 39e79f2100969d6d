import type { Measurement } from "@trellis/contracts";

/**
 * Readings stored as buckets (MongoDB's bucket pattern for IoT data): one document per monitor,
 * per ingest round and per minute of measurement time, holding that round's readings of that
 * minute as parallel arrays. Written once and never grown: on FerretDB a `$push` into a growing
 * document rewrites the whole document (measured 0.16× of one insert per reading), while one
 * insert per monitor per round was 1.43×. Pure functions here; storage in store/reading-buckets.ts.
 */

/** Every reading of a bucket measured in one minute, so a time query is bounded by minute starts. */
export const BUCKET_SPAN_MS = 60_000;
/** Readings per bucket at most, so a document stays small whatever a round holds. */
export const MAX_BUCKET_READINGS = 1_000;

/** Per measurement, over the bucket's readings. */
export interface BucketSummary {
  count: number;
  min: number;
  max: number;
  sum: number;
}

export interface BucketDoc {
  /** `<monitorId>:<first stream sequence>`: each reading is in one bucket, so ids never collide by design. */
  _id: string;
  monitorId: string;
  /** Earliest and latest measurement time of its readings (ms), both in one minute. */
  minAt: number;
  maxAt: number;
  count: number;
  /** Parallel arrays, in stream order: a reading is `(seq[i], at[i], values[i])`. */
  seq: number[];
  at: number[];
  values: Partial<Record<Measurement, number>>[];
  summary: Partial<Record<Measurement, BucketSummary>>;
}

/** One reading as stored: its stream sequence identifies it. */
export interface StoredPoint {
  seq: number;
  at: number;
  values: Partial<Record<Measurement, number>>;
}

/** A reading on its way into a bucket. */
export interface PointOf extends StoredPoint {
  monitorId: string;
}

export const bucketWindow = (at: number): number => Math.floor(at / BUCKET_SPAN_MS) * BUCKET_SPAN_MS;

/** Builds one bucket from readings of one monitor (at least one), kept in the order given. */
export function bucketOf(monitorId: string, points: readonly StoredPoint[]): BucketDoc {
  const first = points[0] as StoredPoint;
  let minAt = first.at;
  let maxAt = first.at;
  const summary: Partial<Record<Measurement, BucketSummary>> = {};
  for (const p of points) {
    if (p.at < minAt) minAt = p.at;
    if (p.at > maxAt) maxAt = p.at;
    for (const [m, v] of Object.entries(p.values) as [Measurement, number][]) {
      const s = summary[m];
      if (!s) summary[m] = { count: 1, min: v, max: v, sum: v };
      else {
        s.count += 1;
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
        s.sum += v;
      }
    }
  }
  return {
    _id: `${monitorId}:${first.seq}`,
    monitorId,
    minAt,
    maxAt,
    count: points.length,
    seq: points.map((p) => p.seq),
    at: points.map((p) => p.at),
    values: points.map((p) => p.values),
    summary,
  };
}

/**
 * A round's readings as buckets: grouped by monitor and minute of measurement time, in stream
 * order, at most `MAX_BUCKET_READINGS` each. A round from devices that send in time order is one
 * bucket per monitor (two when it crosses a minute).
 */
export function bucketsOf(points: readonly PointOf[], maxReadings = MAX_BUCKET_READINGS): BucketDoc[] {
  const groups = new Map<string, { monitorId: string; points: StoredPoint[] }>();
  for (const p of [...points].sort((a, b) => a.seq - b.seq)) {
    const key = `${p.monitorId}\u0000${bucketWindow(p.at)}`;
    let g = groups.get(key);
    if (!g) {
      g = { monitorId: p.monitorId, points: [] };
      groups.set(key, g);
    }
    g.points.push({ seq: p.seq, at: p.at, values: p.values });
  }
  const out: BucketDoc[] = [];
  for (const g of groups.values()) {
    for (let i = 0; i < g.points.length; i += maxReadings)
      out.push(bucketOf(g.monitorId, g.points.slice(i, i + maxReadings)));
  }
  return out;
}

/** The readings of a bucket. */
export function pointsOf(doc: Pick<BucketDoc, "seq" | "at" | "values">): StoredPoint[] {
  return doc.seq.map((seq, i) => ({ seq, at: doc.at[i] as number, values: doc.values[i] ?? {} }));
}

/** Time order; readings of one millisecond in stream order. */
export const ascending = (a: StoredPoint, b: StoredPoint): number => a.at - b.at || a.seq - b.seq;
export const descending = (a: StoredPoint, b: StoredPoint): number => b.at - a.at || b.seq - a.seq;

export interface PointFilter {
  /** Inclusive bounds, and an exclusive lower bound (a page cursor). */
  from?: number | undefined;
  to?: number | undefined;
  after?: number | undefined;
}

export const inWindow = (p: { at: number }, f: PointFilter): boolean =>
  (f.from === undefined || p.at >= f.from) &&
  (f.to === undefined || p.at <= f.to) &&
  (f.after === undefined || p.at > f.after);

/**
 * Collects the first `limit` readings (in `order`) out of buckets read in order of their minute
 * (ascending for `ascending`, descending for `descending`), deduplicated by stream sequence (two
 * instances racing on one redelivered reading may both store it). Feed buckets with `add` and
 * stop reading as soon as `done(nextMinute)` says no later bucket can hold a reading that belongs
 * in the answer.
 */
export class PointCollector {
  private readonly points: StoredPoint[] = [];
  private readonly seen = new Set<number>();
  private readonly filter: PointFilter;
  private readonly limit: number;
  private readonly order: "asc" | "desc";
  private lastWindow: number | undefined;

  constructor(filter: PointFilter, limit: number, order: "asc" | "desc") {
    this.filter = filter;
    this.limit = limit;
    this.order = order;
  }

  add(doc: Pick<BucketDoc, "seq" | "at" | "values">): void {
    for (const p of pointsOf(doc)) {
      if (!inWindow(p, this.filter) || this.seen.has(p.seq)) continue;
      this.seen.add(p.seq);
      this.points.push(p);
    }
  }

  /**
   * Whether the bucket of minute `window` (and every one after it in reading order) can be
   * skipped: `limit` readings are held and all of that minute lies beyond the `limit`-th.
   */
  done(window: number): boolean {
    // Buckets come in minute order and many share a minute: decide once per minute (a sort).
    if (this.points.length < this.limit || window === this.lastWindow) return false;
    this.lastWindow = window;
    const boundary = this.result()[this.limit - 1] as StoredPoint;
    return this.order === "asc" ? window > boundary.at : window + BUCKET_SPAN_MS <= boundary.at;
  }

  result(): StoredPoint[] {
    this.points.sort(this.order === "asc" ? ascending : descending);
    if (this.points.length > this.limit) {
      for (const p of this.points.splice(this.limit)) this.seen.delete(p.seq);
    }
    return this.points;
  }
}

/**
 * What deleting up to `limit` readings older than `before` does to buckets read in minute order:
 * whole buckets to delete, and at most one bucket to rewrite with its remaining readings.
 */
export function planTrim(
  docs: readonly BucketDoc[],
  before: number,
  limit: number,
): { deleteIds: string[]; rewrite?: { id: string; count: number; keep: BucketDoc | null }; deleted: number } {
  const deleteIds: string[] = [];
  let deleted = 0;
  for (const doc of docs) {
    if (deleted >= limit) break;
    const points = pointsOf(doc);
    const old = points.filter((p) => p.at < before).sort(ascending);
    if (old.length === 0) continue;
    const room = limit - deleted;
    if (old.length === points.length && old.length <= room) {
      deleteIds.push(doc._id);
      deleted += old.length;
      continue;
    }
    // Part of this bucket goes (its newer readings stay, or the batch has room for only some).
    const gone = new Set(old.slice(0, room).map((p) => p.seq));
    const rest = points.filter((p) => !gone.has(p.seq));
    const keep = rest.length === 0 ? null : { ...bucketOf(doc.monitorId, rest), _id: doc._id };
    return { deleteIds, rewrite: { id: doc._id, count: doc.count, keep }, deleted: deleted + gone.size };
  }
  return { deleteIds, deleted };
}
