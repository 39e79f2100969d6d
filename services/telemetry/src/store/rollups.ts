import type { Measurement } from "@trellis/contracts";
import { duplicateIndexes } from "@trellis/runtime";
import type { AnyBulkWriteOperation, Collection, Db } from "mongodb";
import type { RollupIncrement, Stats } from "../domain/rollup.ts";

export interface RollupDoc {
  /** `<monitorId>:<minuteStartMs>` */
  _id: string;
  monitorId: string;
  /** Start of the minute, ms since the epoch. */
  minute: number;
  /** Per measurement: `m.ph.count`, `m.ph.sum`, `m.ph.min`, `m.ph.max`. */
  m: Partial<Record<Measurement, Stats>>;
}

/**
 * Per-minute aggregates (collection `rollups`), updated on ingest with `$inc`/`$min`/`$max`:
 * portable to FerretDB, whose `$group` offers only `$sum` and `$count`.
 */
export class RollupsStore {
  private readonly rollups: Collection<RollupDoc>;

  constructor(db: Db) {
    this.rollups = db.collection<RollupDoc>("rollups");
  }

  async ensureIndexes(): Promise<void> {
    await this.rollups.createIndex({ monitorId: 1, minute: 1 }, { name: "monitorId_minute" });
  }

  /** One upsert per monitor and minute; a duplicate-key race between two instances' upserts is retried once. */
  async apply(increments: readonly RollupIncrement[]): Promise<void> {
    const ops: AnyBulkWriteOperation<RollupDoc>[] = increments.map((inc) => {
      const $inc: Record<string, number> = {};
      const $min: Record<string, number> = {};
      const $max: Record<string, number> = {};
      for (const [m, s] of Object.entries(inc.stats) as [Measurement, Stats][]) {
        $inc[`m.${m}.count`] = s.count;
        $inc[`m.${m}.sum`] = s.sum;
        $min[`m.${m}.min`] = s.min;
        $max[`m.${m}.max`] = s.max;
      }
      return {
        updateOne: {
          filter: { _id: `${inc.monitorId}:${inc.minute}` },
          update: { $inc, $min, $max, $setOnInsert: { monitorId: inc.monitorId, minute: inc.minute } },
          upsert: true,
        },
      };
    });
    if (ops.length === 0) return;
    try {
      await this.rollups.bulkWrite(ops, { ordered: false });
    } catch (err) {
      const retry = duplicateIndexes(err).map((i) => ops[i] as AnyBulkWriteOperation<RollupDoc>);
      await this.rollups.bulkWrite(retry, { ordered: false });
    }
  }

  /** Minute stats of one measurement, for minutes in `[fromMinute, toMinute]`. */
  async minutes(
    monitorId: string,
    measurement: Measurement,
    fromMinute: number,
    toMinute: number,
  ): Promise<{ minute: number; stats: Stats }[]> {
    const docs = await this.rollups
      .find(
        { monitorId, minute: { $gte: fromMinute, $lte: toMinute } },
        { projection: { minute: 1, [`m.${measurement}`]: 1 } },
      )
      .sort({ minute: 1 })
      .toArray();
    const out: { minute: number; stats: Stats }[] = [];
    for (const d of docs) {
      const s = d.m?.[measurement];
      if (s && s.count > 0) out.push({ minute: d.minute, stats: s });
    }
    return out;
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.rollups.deleteMany({ monitorId });
  }
}
