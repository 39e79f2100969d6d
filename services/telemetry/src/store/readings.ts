import type { Collection, Filter } from "mongodb";
import type { PointOf, StoredPoint } from "../domain/buckets.ts";

export interface TimeWindow {
  from?: number | undefined;
  to?: number | undefined;
}

/**
 * Where readings are stored. Two layouts answer identically: buckets (store/reading-buckets.ts,
 * for FerretDB) and native time-series collections (store/readings-timeseries.ts, MongoDB ≥ 5),
 * chosen at start by `openReadingsStore`. The per-reading layout of earlier versions
 * (store/reading-docs.ts) is kept to migrate from and to compare with in benchmarks.
 */
export interface ReadingsStore {
  readonly layout: "buckets" | "timeseries" | "documents";
  ensureIndexes(): Promise<void>;
  /**
   * Stores a round's readings; `mayExist` when some may be stored already (a redelivery), so
   * they are not stored again. Returns how many were stored now.
   */
  insertRound(points: readonly PointOf[], mayExist: boolean): Promise<number>;
  /** Readings in a window, oldest first (ties in stream order), at most `limit`, strictly after `after`. */
  page(monitorId: string, window: TimeWindow, limit: number, after?: number): Promise<StoredPoint[]>;
  /** The newest `limit` readings in a window, newest first. */
  newest(monitorId: string, window: TimeWindow, limit: number): Promise<StoredPoint[]>;
  /** Readings stored for a monitor, each stream sequence once. */
  countStored(monitorId: string): Promise<number>;
  /** Deletes up to `limit` readings measured before `before`; returns how many (`limit` while more remain). */
  deleteOlderBatch(monitorId: string, before: number, limit: number): Promise<number>;
  deleteForMonitor(monitorId: string): Promise<void>;
}

/** Deletes documents by id: one `deleteOne` by `_id` each, in one unordered bulk write. */
export async function deleteByIds<T extends { _id: string }>(
  collection: Collection<T>,
  docs: readonly { _id: string }[],
): Promise<number> {
  if (docs.length === 0) return 0;
  const res = await collection.bulkWrite(
    docs.map((d) => ({ deleteOne: { filter: { _id: d._id } as Filter<T> } })),
    { ordered: false },
  );
  return res.deletedCount;
}
