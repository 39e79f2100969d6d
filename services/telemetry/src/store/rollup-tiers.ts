import type { Measurement } from "@trellis/contracts";
import { duplicateIndexes, isDuplicateKey } from "@trellis/runtime";
import type { AnyBulkWriteOperation, Collection, Db } from "mongodb";
import type { Resolution } from "../domain/downsample.ts";
import type { MinuteRollup } from "../domain/series.ts";
import { deleteByIds } from "./readings.ts";
import type { RollupDoc } from "./rollups.ts";

/** An hourly or daily rollup: the same per-measurement fields as a minute's (`RollupDoc.m`). */
export interface CoarseRollupDoc {
  /** `<monitorId>:<startMs>` */
  _id: string;
  monitorId: string;
  /** Start of the hour or day (UTC), ms since the epoch. */
  start: number;
  m: Partial<Record<Measurement, MinuteRollup>>;
}

/** How far a monitor's minutes are downsampled: hours (and the whole days) before `hoursDone`. */
interface DownsampleStateDoc {
  _id: string;
  hoursDone: number;
}

interface LeaseDoc {
  _id: string;
  holder: string;
  until: number;
}

/** One rollup document of any resolution: its start and measurements. */
export interface RollupPiecesDoc {
  start: number;
  m: Partial<Record<Measurement, MinuteRollup>>;
}

/** What one time range of a monitor holds, per measurement: pieces in time order. */
export type PiecesByMeasurement = Map<Measurement, { minute: number; stats: MinuteRollup }[]>;

/**
 * Rollups at every resolution, for downsampling, retention and coarse series: the minute rollups
 * ingest writes (collection `rollups`, see `RollupsStore`), hourly ones computed from them
 * (`rollups_hourly`), daily ones computed from the hourly (`rollups_daily`), each monitor's
 * downsampling watermark (`downsample_state`) and the retention job's lease (`maintenance`).
 * Coarse documents are written whole (`$set` of every measurement) from their finer pieces, so
 * computing one twice, or in two instances at once, writes the same document.
 */
export class RollupTiersStore {
  private readonly minutes: Collection<RollupDoc>;
  private readonly hourly: Collection<CoarseRollupDoc>;
  private readonly daily: Collection<CoarseRollupDoc>;
  private readonly state: Collection<DownsampleStateDoc>;
  private readonly leases: Collection<LeaseDoc>;

  constructor(db: Db) {
    this.minutes = db.collection<RollupDoc>("rollups");
    this.hourly = db.collection<CoarseRollupDoc>("rollups_hourly");
    this.daily = db.collection<CoarseRollupDoc>("rollups_daily");
    this.state = db.collection<DownsampleStateDoc>("downsample_state");
    this.leases = db.collection<LeaseDoc>("maintenance");
  }

  async ensureIndexes(): Promise<void> {
    await this.hourly.createIndex({ monitorId: 1, start: 1 }, { name: "monitorId_start" });
    await this.daily.createIndex({ monitorId: 1, start: 1 }, { name: "monitorId_start" });
  }

  private coarse(resolution: "hour" | "day"): Collection<CoarseRollupDoc> {
    return resolution === "hour" ? this.hourly : this.daily;
  }

  /**
   * Takes (or renews) the lease `name` for `ms` unless another holder's is still running: one
   * conditional upsert. A lost race is a duplicate key, i.e. not taken.
   */
  async takeLease(name: string, holder: string, ms: number, now = Date.now()): Promise<boolean> {
    try {
      const res = await this.leases.updateOne(
        { _id: name, $or: [{ until: { $lt: now } }, { holder }] },
        { $set: { holder, until: now + ms } },
        { upsert: true },
      );
      return res.modifiedCount + res.upsertedCount === 1;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.leases.updateOne({ _id: name, holder }, { $set: { until: 0 } });
  }

  /** Hours before this are downsampled (null: nothing yet). */
  async hoursDone(monitorId: string): Promise<number | null> {
    return (await this.state.findOne({ _id: monitorId }))?.hoursDone ?? null;
  }

  async setHoursDone(monitorId: string, hoursDone: number): Promise<void> {
    await this.state.updateOne({ _id: monitorId }, { $max: { hoursDone } }, { upsert: true });
  }

  /** Start of the monitor's oldest minute rollup at or after `from`, or null. */
  async firstMinute(monitorId: string, from = 0): Promise<number | null> {
    const doc = await this.minutes
      .find({ monitorId, minute: { $gte: from } }, { projection: { minute: 1 } })
      .sort({ minute: 1 })
      .limit(1)
      .next();
    return doc?.minute ?? null;
  }

  /** Documents (every measurement) in `[from, to)` at one resolution, in time order. */
  async docs(resolution: Resolution, monitorId: string, from: number, to: number): Promise<RollupPiecesDoc[]> {
    if (resolution === "minute") {
      const docs = await this.minutes
        .find({ monitorId, minute: { $gte: from, $lt: to } }, { projection: { minute: 1, m: 1 } })
        .sort({ minute: 1 })
        .toArray();
      return docs.map((d) => ({ start: d.minute, m: d.m ?? {} }));
    }
    return this.coarse(resolution)
      .find({ monitorId, start: { $gte: from, $lt: to } }, { projection: { _id: 0, start: 1, m: 1 } })
      .sort({ start: 1 })
      .toArray();
  }

  /** Several measurements' pieces in `[from, to)` at one resolution (for series). */
  async piecesOf(
    resolution: Resolution,
    monitorId: string,
    measurements: readonly Measurement[],
    from: number,
    to: number,
    into: PiecesByMeasurement,
  ): Promise<void> {
    const projection = Object.fromEntries(measurements.map((m) => [`m.${m}`, 1]));
    const docs =
      resolution === "minute"
        ? (
            await this.minutes
              .find({ monitorId, minute: { $gte: from, $lt: to } }, { projection: { minute: 1, ...projection } })
              .sort({ minute: 1 })
              .toArray()
          ).map((d) => ({ start: d.minute, m: d.m }))
        : await this.coarse(resolution)
            .find({ monitorId, start: { $gte: from, $lt: to } }, { projection: { start: 1, ...projection } })
            .sort({ start: 1 })
            .toArray();
    for (const d of docs) {
      for (const m of measurements) {
        const s = d.m?.[m];
        if (s && s.count > 0) into.get(m)?.push({ minute: d.start, stats: s });
      }
    }
  }

  /** Writes coarse documents whole: each `{start, m}` replaces that hour's or day's measurements. */
  async write(resolution: "hour" | "day", monitorId: string, docs: readonly RollupPiecesDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const ops: AnyBulkWriteOperation<CoarseRollupDoc>[] = docs.map((d) => ({
      updateOne: {
        filter: { _id: `${monitorId}:${d.start}` },
        update: { $set: { monitorId, start: d.start, m: d.m } },
        upsert: true,
      },
    }));
    try {
      await this.coarse(resolution).bulkWrite(ops, { ordered: false });
    } catch (err) {
      // Two instances upserting the same new document: the loser's write is the same; write it again.
      if (!isDuplicateKey(err) && duplicateIndexes(err).length === 0) throw err;
      await this.coarse(resolution).bulkWrite(ops, { ordered: false });
    }
  }

  /**
   * Deletes up to `limit` documents of a monitor older than `before` at one resolution: the ids
   * first (an indexed, limited find), then those ids (`deleteByIds`). Returns how many went.
   */
  async deleteBatch(resolution: Resolution, monitorId: string, before: number, limit: number): Promise<number> {
    if (resolution === "minute") {
      const ids = await this.minutes
        .find({ monitorId, minute: { $lt: before } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      return deleteByIds(this.minutes, ids);
    }
    const coll = this.coarse(resolution);
    const ids = await coll
      .find({ monitorId, start: { $lt: before } }, { projection: { _id: 1 } })
      .limit(limit)
      .toArray();
    return deleteByIds(coll, ids);
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await Promise.all([
      this.hourly.deleteMany({ monitorId }),
      this.daily.deleteMany({ monitorId }),
      this.state.deleteOne({ _id: monitorId }),
    ]);
  }
}
