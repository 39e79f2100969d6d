import type { Measurement } from "@trellis/contracts";
import type { Collection, Db, Filter } from "mongodb";
import { duplicateIndexes } from "./mongo-errors.ts";

export interface ReadingDoc {
  /** `<monitorId>:<streamSequence>`: a redelivered message maps to the same document. */
  _id: string;
  monitorId: string;
  /** Measurement time, ms since the epoch. */
  at: number;
  values: Partial<Record<Measurement, number>>;
  /**
   * Set until the reading's rollup and monitor counters are applied. A redelivery (after a crash
   * between the two writes) finds the reading still pending and applies them then; a reading
   * that is not pending is not counted twice.
   */
  pending?: true;
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
   * Inserts a batch (unordered) and returns the ids whose rollups still have to be applied: the
   * new ones, and redelivered ones whose earlier processing stopped before the rollups.
   */
  async insertBatch(docs: readonly ReadingDoc[]): Promise<Set<string>> {
    if (docs.length === 0) return new Set();
    let duplicates: string[] = [];
    try {
      await this.readings.insertMany(
        docs.map((d) => ({ ...d, pending: true as const })),
        { ordered: false },
      );
    } catch (err) {
      duplicates = duplicateIndexes(err).map((i) => (docs[i] as ReadingDoc)._id);
    }
    const toApply = new Set(docs.map((d) => d._id));
    if (duplicates.length > 0) {
      const stillPending = await this.readings
        .find({ _id: { $in: duplicates }, pending: true }, { projection: { _id: 1 } })
        .toArray();
      const pending = new Set(stillPending.map((d) => d._id));
      for (const id of duplicates) if (!pending.has(id)) toApply.delete(id);
    }
    return toApply;
  }

  async markApplied(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.readings.updateMany({ _id: { $in: [...ids] } }, { $unset: { pending: "" } });
  }

  /** Readings in a window, oldest first, at most `limit`, strictly after `after` when given. */
  page(monitorId: string, window: TimeWindow, limit: number, after?: number): Promise<ReadingDoc[]> {
    return this.readings
      .find(windowFilter(monitorId, window, after), { projection: { pending: 0 } })
      .sort({ at: 1, _id: 1 })
      .limit(limit)
      .toArray();
  }

  /** The newest `limit` readings in a window (newest first). */
  newest(monitorId: string, window: TimeWindow, limit: number): Promise<ReadingDoc[]> {
    return this.readings
      .find(windowFilter(monitorId, window), { projection: { pending: 0 } })
      .sort({ at: -1, _id: -1 })
      .limit(limit)
      .toArray();
  }

  count(monitorId: string): Promise<number> {
    return this.readings.countDocuments({ monitorId });
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.readings.deleteMany({ monitorId });
  }
}
