import type { Measurement } from "@trellis/contracts";
import { duplicateIndexes } from "@trellis/runtime";
import type { Collection, Db, Filter } from "mongodb";

export interface ReadingDoc {
  /** `<monitorId>:<streamSequence>`: a redelivered message maps to the same document. */
  _id: string;
  monitorId: string;
  /** Measurement time, ms since the epoch. */
  at: number;
  values: Partial<Record<Measurement, number>>;
}

export interface TimeWindow {
  from?: number | undefined;
  to?: number | undefined;
}

const windowFilter = (monitorId: string, window: TimeWindow, after?: number): Filter<ReadingDoc> => {
  const at: { $gte?: number; $lte?: number; $gt?: number } = {};
  if (window.from !== undefined) at.$gte = window.from;
  if (window.to !== undefined) at.$lte = window.to;
  if (after !== undefined) at.$gt = after;
  return Object.keys(at).length ? { monitorId, at } : { monitorId };
};

/** Raw readings (collection `readings`). */
export class ReadingsStore {
  private readonly readings: Collection<ReadingDoc>;

  constructor(db: Db) {
    this.readings = db.collection<ReadingDoc>("readings");
  }

  async ensureIndexes(): Promise<void> {
    await this.readings.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
  }

  /**
   * Inserts a batch (unordered) and returns the ids it stored now: a redelivered reading already
   * stored is a duplicate `_id` and is left out, so its rollups and counters are not applied twice.
   * (The price: after a crash between this write and the rollups, that batch's aggregates are
   * missing. The alternative, a "pending" flag cleared by a second write, made FerretDB scan the
   * whole collection for every batch: ingest fell to ~90 readings/s.)
   */
  async insertBatch(docs: readonly ReadingDoc[]): Promise<Set<string>> {
    if (docs.length === 0) return new Set();
    const inserted = new Set(docs.map((d) => d._id));
    try {
      await this.readings.insertMany([...docs], { ordered: false });
    } catch (err) {
      const duplicates = duplicateIndexes(err);
      if (duplicates.length === 0) throw err;
      for (const i of duplicates) inserted.delete((docs[i] as ReadingDoc)._id);
    }
    return inserted;
  }

  /** Readings in a window, oldest first, at most `limit`, strictly after `after` when given. */
  page(monitorId: string, window: TimeWindow, limit: number, after?: number): Promise<ReadingDoc[]> {
    return this.readings
      .find(windowFilter(monitorId, window, after))
      .sort({ at: 1, _id: 1 })
      .limit(limit)
      .toArray();
  }

  /** The newest `limit` readings in a window (newest first): their times and values only. */
  newest(monitorId: string, window: TimeWindow, limit: number): Promise<Pick<ReadingDoc, "at" | "values">[]> {
    return this.readings
      .find(windowFilter(monitorId, window), { projection: { _id: 0, at: 1, values: 1 }, batchSize: limit })
      .sort({ at: -1, _id: -1 })
      .limit(limit)
      .toArray();
  }

  count(monitorId: string): Promise<number> {
    return this.readings.countDocuments({ monitorId });
  }

  /**
   * Deletes up to `limit` of a monitor's readings measured before `before`: their ids first (an
   * indexed, limited find on `monitorId_at`), then those ids one `deleteOne` each in one bulk
   * write (`_id` lookups, which FerretDB also takes through its index; a `deleteMany` with
   * `$in` made it scan the whole collection in one write transaction, stalling ingest's inserts).
   * Returns how many went. Retention
   * calls it in a loop with pauses, so a large backlog is never one huge delete.
   */
  async deleteOlderBatch(monitorId: string, before: number, limit: number): Promise<number> {
    const ids = await this.readings
      .find({ monitorId, at: { $lt: before } }, { projection: { _id: 1 } })
      .limit(limit)
      .toArray();
    if (ids.length === 0) return 0;
    return deleteByIds(this.readings, ids);
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.readings.deleteMany({ monitorId });
  }
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
