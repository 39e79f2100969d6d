import type { Measurement } from "@trellis/contracts";
import { chunked, duplicateIndexes } from "@trellis/runtime";
import type { Collection, Db, Filter } from "mongodb";
import type { PointOf, StoredPoint } from "../domain/buckets.ts";
import { deleteByIds, type ReadingsStore, type TimeWindow } from "./readings.ts";

/** One reading per document: the layout of Trellis before buckets (collection `readings`). */
export interface ReadingDoc {
  /** `<monitorId>:<streamSequence>`: a redelivered message maps to the same document. */
  _id: string;
  monitorId: string;
  /** Measurement time, ms since the epoch. */
  at: number;
  values: Partial<Record<Measurement, number>>;
}

export const LEGACY_READINGS = "readings";

const windowFilter = (monitorId: string, window: TimeWindow, after?: number): Filter<ReadingDoc> => {
  const at: { $gte?: number; $lte?: number; $gt?: number } = {};
  if (window.from !== undefined) at.$gte = window.from;
  if (window.to !== undefined) at.$lte = window.to;
  if (after !== undefined) at.$gt = after;
  return Object.keys(at).length ? { monitorId, at } : { monitorId };
};

/** The stream sequence in a per-reading document's id. */
export const seqOfDocId = (id: string): number => Number(id.slice(id.lastIndexOf(":") + 1));

const pointOf = (d: Pick<ReadingDoc, "_id" | "at" | "values">): StoredPoint => ({
  seq: seqOfDocId(d._id),
  at: d.at,
  values: d.values,
});

/**
 * Readings one document each, deduplicated by `_id`. No longer what ingest writes: kept as the
 * source of the migration to buckets (migrations/readings-to-buckets.ts) and as the "before" of
 * the benchmarks' A/B.
 */
export class ReadingDocsStore implements ReadingsStore {
  readonly layout = "documents" as const;
  readonly collection: Collection<ReadingDoc>;

  constructor(db: Db, name = LEGACY_READINGS) {
    this.collection = db.collection<ReadingDoc>(name);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
  }

  /** Inserts (unordered, two batches in flight); a reading already stored is a duplicate `_id`, left out. */
  async insertRound(points: readonly PointOf[]): Promise<number> {
    const docs: ReadingDoc[] = points.map((p) => ({
      _id: `${p.monitorId}:${p.seq}`,
      monitorId: p.monitorId,
      at: p.at,
      values: p.values,
    }));
    const chunks = chunked(docs, Math.ceil(docs.length / Math.max(1, Math.ceil(docs.length / 500))));
    let next = 0;
    let stored = 0;
    const worker = async () => {
      for (let chunk = chunks[next++]; chunk; chunk = chunks[next++]) {
        try {
          await this.collection.insertMany(chunk, { ordered: false });
          stored += chunk.length;
        } catch (err) {
          const duplicates = duplicateIndexes(err);
          if (duplicates.length === 0) throw err;
          stored += chunk.length - duplicates.length;
        }
      }
    };
    await Promise.all([worker(), worker()]);
    return stored;
  }

  async page(monitorId: string, window: TimeWindow, limit: number, after?: number): Promise<StoredPoint[]> {
    const docs = await this.collection
      .find(windowFilter(monitorId, window, after))
      .sort({ at: 1, _id: 1 })
      .limit(limit)
      .toArray();
    return docs.map(pointOf);
  }

  async newest(monitorId: string, window: TimeWindow, limit: number): Promise<StoredPoint[]> {
    const docs = await this.collection
      .find(windowFilter(monitorId, window), { projection: { _id: 1, at: 1, values: 1 }, batchSize: limit })
      .sort({ at: -1, _id: -1 })
      .limit(limit)
      .toArray();
    return docs.map(pointOf);
  }

  countStored(monitorId: string): Promise<number> {
    return this.collection.countDocuments({ monitorId });
  }

  async deleteOlderBatch(monitorId: string, before: number, limit: number): Promise<number> {
    const ids = await this.collection
      .find({ monitorId, at: { $lt: before } }, { projection: { _id: 1 } })
      .limit(limit)
      .toArray();
    return deleteByIds(this.collection, ids);
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.collection.deleteMany({ monitorId });
  }

  /** Up to `limit` documents in migration order (monitor, then time). */
  nextForMigration(limit: number): Promise<ReadingDoc[]> {
    return this.collection.find({}).sort({ monitorId: 1, at: 1 }).limit(limit).toArray();
  }

  async deleteMigrated(ids: readonly string[]): Promise<void> {
    await deleteByIds(
      this.collection,
      ids.map((_id) => ({ _id })),
    );
  }
}
