import { chunked, duplicateIndexes } from "@trellis/runtime";
import type { Collection, Db, Filter } from "mongodb";
import {
  type BucketDoc,
  bucketsOf,
  bucketWindow,
  PointCollector,
  type PointOf,
  planTrim,
  pointsOf,
  type StoredPoint,
} from "../domain/buckets.ts";
import { deleteByIds, type ReadingsStore, type TimeWindow } from "./readings.ts";

/** Buckets read per query when paging: a page of 1,000 readings at one per round is 1,000 buckets. */
const READ_BATCH = 500;
/** Buckets examined per retention batch. */
const TRIM_SCAN = 200;

/**
 * Readings as buckets (collection `reading_buckets`, see domain/buckets.ts): the layout for
 * servers without native time-series collections (FerretDB). Queries are bounded by the bucket
 * index `monitorId_minAt`, since every reading of a bucket lies in the minute of its `minAt`.
 */
export class BucketReadingsStore implements ReadingsStore {
  readonly layout = "buckets" as const;
  private readonly buckets: Collection<BucketDoc>;

  constructor(db: Db) {
    this.buckets = db.collection<BucketDoc>("reading_buckets");
  }

  async ensureIndexes(): Promise<void> {
    await this.buckets.createIndex({ monitorId: 1, minAt: 1 }, { name: "monitorId_minAt" });
  }

  /**
   * Stores a round: one bucket per monitor and minute, in one `insertMany` per 1,000 buckets.
   * `mayExist` (a redelivered message in the round) first leaves out the readings already stored
   * by an earlier delivery. A bucket id already taken (another instance stored a bucket starting
   * with the same reading: a redelivery racing the first delivery) sends that bucket's readings
   * the same way, so every reading is stored. The one case that stores a reading twice (a
   * redelivery racing a slow first delivery, in buckets starting with different readings) is
   * harmless: every read deduplicates by stream sequence. Returns how many were stored now
   * (approximate when ids clashed).
   */
  async insertRound(points: readonly PointOf[], mayExist: boolean): Promise<number> {
    let pending = mayExist ? await this.notStored(points) : [...points];
    let stored = 0;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 5) throw new Error(`readings round: bucket ids still clash after ${attempt} attempts`);
      const recheck: PointOf[] = [];
      for (const chunk of chunked(bucketsOf(pending))) {
        try {
          await this.buckets.insertMany(chunk, { ordered: false });
          stored += chunk.reduce((n, d) => n + d.count, 0);
        } catch (err) {
          const dup = new Set(duplicateIndexes(err));
          if (dup.size === 0) throw err;
          // FerretDB may stop an unordered insert at its first error, so which buckets went in
          // is not relied on: the chunk's readings not found stored are inserted again.
          stored += chunk.filter((_, i) => !dup.has(i)).reduce((n, d) => n + d.count, 0);
          for (const d of chunk) for (const p of pointsOf(d)) recheck.push({ ...p, monitorId: d.monitorId });
        }
      }
      pending = await this.notStored(recheck);
    }
    return stored;
  }

  /** The points not stored yet: those whose sequence is in no bucket of their monitor and minute. */
  private async notStored(points: readonly PointOf[]): Promise<PointOf[]> {
    if (points.length === 0) return [];
    const windows = new Map<string, Set<number>>();
    for (const p of points) {
      const w = bucketWindow(p.at);
      const set = windows.get(p.monitorId) ?? new Set<number>();
      set.add(w);
      windows.set(p.monitorId, set);
    }
    const or: Filter<BucketDoc>[] = [];
    for (const [monitorId, ws] of windows) {
      for (const w of ws) or.push({ monitorId, minAt: { $gte: w, $lt: w + 60_000 } });
    }
    const present = new Map<string, Set<number>>();
    for (const part of chunked(or, 200)) {
      const docs = await this.buckets
        .find({ $or: part } as Filter<BucketDoc>, { projection: { monitorId: 1, seq: 1 } })
        .toArray();
      for (const d of docs) {
        const set = present.get(d.monitorId) ?? new Set<number>();
        for (const s of d.seq) set.add(s);
        present.set(d.monitorId, set);
      }
    }
    return points.filter((p) => !present.get(p.monitorId)?.has(p.seq));
  }

  /** Readings in a window, oldest first, at most `limit`, strictly after `after` when given. */
  async page(monitorId: string, window: TimeWindow, limit: number, after?: number): Promise<StoredPoint[]> {
    const filter = { from: window.from, to: window.to, after };
    const lower = Math.max(window.from ?? Number.NEGATIVE_INFINITY, after ?? Number.NEGATIVE_INFINITY);
    const minAt: { $gte?: number; $lte?: number } = {};
    if (Number.isFinite(lower)) minAt.$gte = bucketWindow(lower);
    if (window.to !== undefined) minAt.$lte = window.to;
    const collector = new PointCollector(filter, limit, "asc");
    await this.scan({ monitorId, ...(Object.keys(minAt).length ? { minAt } : {}) }, 1, collector);
    return collector.result();
  }

  /** The newest `limit` readings in a window, newest first. */
  async newest(monitorId: string, window: TimeWindow, limit: number): Promise<StoredPoint[]> {
    const minAt: { $gte?: number; $lte?: number } = {};
    if (window.from !== undefined) minAt.$gte = bucketWindow(window.from);
    if (window.to !== undefined) minAt.$lte = window.to;
    const collector = new PointCollector(window, limit, "desc");
    await this.scan({ monitorId, ...(Object.keys(minAt).length ? { minAt } : {}) }, -1, collector);
    return collector.result();
  }

  /** Reads buckets in `minAt` order, a batch at a time, until the collector has its answer. */
  private async scan(filter: Filter<BucketDoc>, direction: 1 | -1, collector: PointCollector): Promise<void> {
    const cursor = this.buckets
      .find(filter, { projection: { minAt: 1, seq: 1, at: 1, values: 1 }, batchSize: READ_BATCH })
      .sort({ minAt: direction, _id: direction });
    try {
      for await (const doc of cursor) {
        if (collector.done(bucketWindow(doc.minAt))) break;
        collector.add(doc);
      }
    } finally {
      await cursor.close();
    }
  }

  /** Readings stored for a monitor (each sequence once). */
  async countStored(monitorId: string): Promise<number> {
    const seqs = new Set<number>();
    for await (const d of this.buckets.find({ monitorId }, { projection: { seq: 1 } }))
      for (const s of d.seq) seqs.add(s);
    return seqs.size;
  }

  /**
   * Deletes up to `limit` of a monitor's readings measured before `before`, oldest buckets first:
   * whole buckets by id (one `deleteOne` each in one bulk write, see `deleteByIds`), and the one
   * bucket that also holds newer readings (or does not fit the batch) rewritten with the rest,
   * only if unchanged since read. Returns how many readings went, exactly `limit` while more remain.
   */
  async deleteOlderBatch(monitorId: string, before: number, limit: number): Promise<number> {
    const docs = await this.buckets
      .find({ monitorId, minAt: { $lt: before } })
      .sort({ minAt: 1, _id: 1 })
      .limit(Math.min(limit, TRIM_SCAN))
      .toArray();
    if (docs.length === 0) return 0;
    const plan = planTrim(docs, before, limit);
    let deleted = plan.deleted;
    if (plan.deleteIds.length > 0)
      await deleteByIds(
        this.buckets,
        plan.deleteIds.map((_id) => ({ _id })),
      );
    if (plan.rewrite) {
      const { id, count, keep } = plan.rewrite;
      const res = keep
        ? await this.buckets.replaceOne({ _id: id, count }, keep)
        : await this.buckets.deleteOne({ _id: id, count });
      const changed = keep
        ? (res as { matchedCount: number }).matchedCount
        : (res as { deletedCount: number }).deletedCount;
      if (changed === 0) deleted -= count - (keep?.count ?? 0);
    }
    return deleted;
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.buckets.deleteMany({ monitorId });
  }
}
