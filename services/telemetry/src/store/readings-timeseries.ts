import type { Measurement } from "@trellis/contracts";
import { chunked } from "@trellis/runtime";
import type { Collection, CreateCollectionOptions, Db, Filter } from "mongodb";
import type { PointOf, StoredPoint } from "../domain/buckets.ts";
import type { ReadingsStore, TimeWindow } from "./readings.ts";

/** A reading in a native time-series collection: the server buckets them by `monitorId`. */
export interface TimeSeriesDoc {
  /** The time field must be a BSON date. */
  at: Date;
  /** The meta field: the server keeps one bucket per monitor and time span. */
  monitorId: string;
  seq: number;
  values: Partial<Record<Measurement, number>>;
}

export const TIME_SERIES_COLLECTION = "readings_ts";

/** MongoDB ≥ 5's time-series collection for readings: bucketed by monitor, spans tuned for readings seconds apart. */
export const timeSeriesOptions: CreateCollectionOptions = {
  timeseries: { timeField: "at", metaField: "monitorId", granularity: "seconds" },
};

export const timeSeriesDocOf = (p: PointOf): TimeSeriesDoc => ({
  at: new Date(p.at),
  monitorId: p.monitorId,
  seq: p.seq,
  values: p.values,
});

export const pointOfTimeSeriesDoc = (d: Pick<TimeSeriesDoc, "at" | "seq" | "values">): StoredPoint => ({
  seq: d.seq,
  at: d.at.getTime(),
  values: d.values ?? {},
});

/** The query of a window (inclusive bounds, an exclusive lower cursor) on the time field. */
export function timeSeriesFilter(monitorId: string, window: TimeWindow, after?: number): Filter<TimeSeriesDoc> {
  const at: { $gte?: Date; $lte?: Date; $gt?: Date } = {};
  if (window.from !== undefined) at.$gte = new Date(window.from);
  if (window.to !== undefined) at.$lte = new Date(window.to);
  if (after !== undefined) at.$gt = new Date(after);
  return Object.keys(at).length ? { monitorId, at } : { monitorId };
}

/**
 * Readings in a native time-series collection (MongoDB ≥ 5), chosen at start where the server has
 * them: the server does the bucketing this layout does by hand elsewhere. Such collections take no
 * unique index, so a redelivered round first leaves out what is stored, and reads deduplicate by
 * stream sequence (duplicates are adjacent in `(at, seq)` order).
 */
export class TimeSeriesReadingsStore implements ReadingsStore {
  readonly layout = "timeseries" as const;
  private readonly db: Db;
  private readonly readings: Collection<TimeSeriesDoc>;

  constructor(db: Db) {
    this.db = db;
    this.readings = db.collection<TimeSeriesDoc>(TIME_SERIES_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    const exists = await this.db.listCollections({ name: TIME_SERIES_COLLECTION }, { nameOnly: true }).hasNext();
    if (!exists) {
      try {
        await this.db.createCollection(TIME_SERIES_COLLECTION, timeSeriesOptions);
      } catch (err) {
        // Another instance created it first (NamespaceExists).
        if ((err as { code?: number }).code !== 48) throw err;
      }
    }
    await this.readings.createIndex({ monitorId: 1, at: 1, seq: 1 }, { name: "monitorId_at_seq" });
  }

  async insertRound(points: readonly PointOf[], mayExist: boolean): Promise<number> {
    let todo = [...points];
    if (mayExist && todo.length > 0) {
      const present = await this.readings
        .find(
          { monitorId: { $in: [...new Set(todo.map((p) => p.monitorId))] }, seq: { $in: todo.map((p) => p.seq) } },
          { projection: { _id: 0, monitorId: 1, seq: 1 } },
        )
        .toArray();
      const key = (m: string, s: number) => `${m}:${s}`;
      const stored = new Set(present.map((d) => key(d.monitorId, d.seq)));
      todo = todo.filter((p) => !stored.has(key(p.monitorId, p.seq)));
    }
    for (const chunk of chunked(todo.map(timeSeriesDocOf))) await this.readings.insertMany(chunk, { ordered: false });
    return todo.length;
  }

  private async distinct(filter: Filter<TimeSeriesDoc>, direction: 1 | -1, limit: number): Promise<StoredPoint[]> {
    const out: StoredPoint[] = [];
    const seen = new Set<number>();
    const cursor = this.readings
      .find(filter, { projection: { _id: 0, at: 1, seq: 1, values: 1 } })
      .sort({ at: direction, seq: direction });
    try {
      for await (const d of cursor) {
        if (seen.has(d.seq)) continue;
        seen.add(d.seq);
        out.push(pointOfTimeSeriesDoc(d));
        if (out.length >= limit) break;
      }
    } finally {
      await cursor.close();
    }
    return out;
  }

  page(monitorId: string, window: TimeWindow, limit: number, after?: number): Promise<StoredPoint[]> {
    return this.distinct(timeSeriesFilter(monitorId, window, after), 1, limit);
  }

  newest(monitorId: string, window: TimeWindow, limit: number): Promise<StoredPoint[]> {
    return this.distinct(timeSeriesFilter(monitorId, window), -1, limit);
  }

  async countStored(monitorId: string): Promise<number> {
    return (await this.readings.distinct("seq", { monitorId })).length;
  }

  /** MongoDB 7 deletes from time-series collections by any filter: the oldest `limit` by `_id`. */
  async deleteOlderBatch(monitorId: string, before: number, limit: number): Promise<number> {
    const docs = await this.readings
      .find({ monitorId, at: { $lt: new Date(before) } }, { projection: { _id: 1 } })
      .sort({ at: 1 })
      .limit(limit)
      .toArray();
    if (docs.length === 0) return 0;
    return (await this.readings.deleteMany({ _id: { $in: docs.map((d) => d._id) } })).deletedCount;
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.readings.deleteMany({ monitorId });
  }
}

/** What `buildInfo` says about time-series collections: MongoDB ≥ 5, and not FerretDB (which has none). */
export function supportsTimeSeries(buildInfo: {
  version?: unknown;
  ferretdb?: unknown;
  ferretdbVersion?: unknown;
}): boolean {
  if (buildInfo.ferretdb !== undefined || buildInfo.ferretdbVersion !== undefined) return false;
  const major = Number(String(buildInfo.version ?? "").split(".")[0]);
  return Number.isFinite(major) && major >= 5;
}
