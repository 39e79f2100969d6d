import type { Measurement } from "@trellis/contracts";
import { chunked, duplicateIndexes } from "@trellis/runtime";
import type { AnyBulkWriteOperation, Collection, Db, Filter } from "mongodb";
import type { MinuteExtras, RollupExtra, RollupIncrement, Stats } from "../domain/rollup.ts";
import type { MinuteRollup } from "../domain/series.ts";

export interface RollupDoc {
  /** `<monitorId>:<minuteStartMs>` */
  _id: string;
  monitorId: string;
  /** Start of the minute, ms since the epoch. */
  minute: number;
  /**
   * Per measurement: `m.ph.count`, `m.ph.sum`, `m.ph.min`, `m.ph.max`, and (rollups written since
   * stddev and last exist) `m.ph.sumSq`, `m.ph.sqCount`, `m.ph.last`, `m.ph.lastAt`.
   */
  m: Partial<Record<Measurement, Stats & Partial<MinuteExtras>>>;
}

/**
 * Per-minute aggregates (collection `rollups`), updated on ingest with `$inc`/`$min`/`$max`:
 * portable to FerretDB, whose `$group` offers only `$sum` and `$count`.
 */
/**
 * Conditional `last` updates per bulkWrite, and whole-document ones in flight (see `applyLast`).
 * One at a time: FerretDB serializes the updates of a collection anyway. (The stalls once seen
 * with more in flight or ~100 per bulkWrite were FerretDB's held connections: see
 * MAX_STATEMENTS_PER_COMMAND in packages/runtime.)
 */
const LAST_BATCH = 1_000;
const LAST_IN_FLIGHT = 1;

export class RollupsStore {
  private readonly rollups: Collection<RollupDoc>;

  constructor(db: Db) {
    this.rollups = db.collection<RollupDoc>("rollups");
  }

  async ensureIndexes(): Promise<void> {
    await this.rollups.createIndex({ monitorId: 1, minute: 1 }, { name: "monitorId_minute" });
  }

  /**
   * One upsert per monitor and minute (`$inc` / `$min` / `$max`, commutative, so two instances
   * writing the same minute add up); a duplicate-key race between two instances' upserts is
   * retried once. Then, once the documents exist, each measurement's `(lastAt, last)` is set by
   * a conditional update that matches only while the stored pair is older (see `MinuteExtras`).
   */
  async apply(increments: readonly RollupIncrement[], extras: readonly RollupExtra[] = []): Promise<void> {
    const extraOf = new Map(extras.map((e) => [`${e.monitorId}:${e.minute}`, e.extras]));
    const ops: AnyBulkWriteOperation<RollupDoc>[] = increments.map((inc) => {
      const $inc: Record<string, number> = {};
      const $min: Record<string, number> = {};
      const $max: Record<string, number> = {};
      const extra = extraOf.get(`${inc.monitorId}:${inc.minute}`);
      for (const [m, s] of Object.entries(inc.stats) as [Measurement, Stats][]) {
        $inc[`m.${m}.count`] = s.count;
        $inc[`m.${m}.sum`] = s.sum;
        $min[`m.${m}.min`] = s.min;
        $max[`m.${m}.max`] = s.max;
        const e = extra?.[m];
        if (e) {
          $inc[`m.${m}.sumSq`] = e.sumSq;
          $inc[`m.${m}.sqCount`] = e.sqCount;
        }
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
    await Promise.all(
      chunked(ops).map(async (chunk) => {
        try {
          await this.rollups.bulkWrite(chunk, { ordered: false });
        } catch (err) {
          const retry = duplicateIndexes(err).map((i) => chunk[i] as AnyBulkWriteOperation<RollupDoc>);
          if (retry.length === 0) throw err;
          await this.rollups.bulkWrite(retry, { ordered: false });
        }
      }),
    );
    await this.applyLast(extras);
  }

  /**
   * `(lastAt, last)` of each measurement, only where the stored pair is older (or missing).
   *
   * Usually every measurement of a minute document is older than the round's candidates (readings
   * arrive in time order), so one update per document sets them all, matching only if each stored
   * pair is older; where it does not match (a late reading, or another instance's newer one), each
   * measurement gets its own conditional update. Both are single-document updates, atomic, so the
   * result is the maximum of all candidates whatever the order of the writers. Per measurement
   * always, 50 monitors with eight measurements were 400 updates of ~1–2 ms each on FerretDB per
   * round, which held every reading back for most of a second.
   */
  private async applyLast(extras: readonly RollupExtra[]): Promise<void> {
    const older = (m: string, x: MinuteExtras) => {
      const at = `m.${m}.lastAt`;
      const last = `m.${m}.last`;
      return {
        $or: [{ [at]: { $exists: false } }, { [at]: { $lt: x.lastAt } }, { [at]: x.lastAt, [last]: { $lt: x.last } }],
      };
    };
    const set = (m: string, x: MinuteExtras) => ({ [`m.${m}.lastAt`]: x.lastAt, [`m.${m}.last`]: x.last });
    const fallback: AnyBulkWriteOperation<RollupDoc>[] = [];
    let next = 0;
    const worker = async () => {
      for (let e = extras[next++]; e; e = extras[next++]) {
        const pairs = Object.entries(e.extras) as [Measurement, MinuteExtras][];
        if (pairs.length === 0) continue;
        const _id = `${e.monitorId}:${e.minute}`;
        const all = await this.rollups.updateOne(
          { _id, $and: pairs.map(([m, x]) => older(m, x)) } as Filter<RollupDoc>,
          { $set: Object.assign({}, ...pairs.map(([m, x]) => set(m, x))) },
        );
        if (all.matchedCount > 0) continue;
        for (const [m, x] of pairs) {
          fallback.push({
            updateOne: { filter: { _id, ...older(m, x) } as Filter<RollupDoc>, update: { $set: set(m, x) } },
          });
        }
      }
    };
    await Promise.all(Array.from({ length: LAST_IN_FLIGHT }, worker));
    // Bounded batches (they were 32 while FerretDB 1.24 hung on ~100 matching statements in one
    // command; see MAX_STATEMENTS_PER_COMMAND).
    for (let i = 0; i < fallback.length; i += LAST_BATCH) {
      await this.rollups.bulkWrite(fallback.slice(i, i + LAST_BATCH), { ordered: false });
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

  /** Minute rollups (with extras where stored) of several measurements, for minutes in `[fromMinute, toMinute]`. */
  async minutesOf(
    monitorId: string,
    measurements: readonly Measurement[],
    fromMinute: number,
    toMinute: number,
  ): Promise<Map<Measurement, { minute: number; stats: MinuteRollup }[]>> {
    const docs = await this.rollups
      .find(
        { monitorId, minute: { $gte: fromMinute, $lte: toMinute } },
        { projection: { minute: 1, ...Object.fromEntries(measurements.map((m) => [`m.${m}`, 1])) } },
      )
      .sort({ minute: 1 })
      .toArray();
    const out = new Map<Measurement, { minute: number; stats: MinuteRollup }[]>(measurements.map((m) => [m, []]));
    for (const d of docs) {
      for (const m of measurements) {
        const s = d.m?.[m];
        if (s && s.count > 0) out.get(m)?.push({ minute: d.minute, stats: s });
      }
    }
    return out;
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.rollups.deleteMany({ monitorId });
  }
}
