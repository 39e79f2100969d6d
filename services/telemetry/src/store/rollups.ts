import type { Measurement } from "@trellis/contracts";
import { chunked, duplicateIndexes } from "@trellis/runtime";
import type { AnyBulkWriteOperation, Collection, Db, Filter } from "mongodb";
import type { NormalizedReading } from "../domain/reading.ts";
import {
  type MinuteExtras,
  minuteStart,
  type RollupExtra,
  rollupExtras,
  rollupIncrements,
  type Stats,
} from "../domain/rollup.ts";
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
  /** Stream sequences of the readings counted in this minute (each is counted once: see `apply`). */
  ingested?: number[];
}

/** A reading to fold into its minute: the stream sequence identifies it. */
export interface RollupReading {
  monitorId: string;
  seq: number;
  reading: NormalizedReading;
}

/** Matches while the stored `(lastAt, last)` of measurement `m` is older than `x`'s (or missing). */
const olderLast = (m: string, x: MinuteExtras) => {
  const at = `m.${m}.lastAt`;
  const last = `m.${m}.last`;
  return {
    $or: [{ [at]: { $exists: false } }, { [at]: { $lt: x.lastAt } }, { [at]: x.lastAt, [last]: { $lt: x.last } }],
  };
};
const setLast = (m: string, x: MinuteExtras) => ({ [`m.${m}.lastAt`]: x.lastAt, [`m.${m}.last`]: x.last });

/**
 * The guarded upsert of readings of one monitor and minute: `$inc`/`$min`/`$max` of their stats
 * and their sequences recorded, matching only while none of them is recorded; an upsert (`all`),
 * or an update of a document known to exist (`one`). The `all` form also sets each measurement's
 * `(lastAt, last)` and matches only while every stored pair is older: readings arrive in time
 * order, so this one write per monitor and minute is the usual case; otherwise it fails as a
 * duplicate key and the slow path of `apply` takes over.
 */
function upsertOf(group: readonly RollupReading[], mode: "all" | "one"): AnyBulkWriteOperation<RollupDoc> {
  const [inc] = rollupIncrements(group);
  const [extra] = rollupExtras(group);
  const first = group[0] as RollupReading;
  const monitorId = first.monitorId;
  const minute = minuteStart(first.reading.at);
  const $inc: Record<string, number> = {};
  const $min: Record<string, number> = {};
  const $max: Record<string, number> = {};
  for (const [m, s] of Object.entries(inc?.stats ?? {}) as [Measurement, Stats][]) {
    $inc[`m.${m}.count`] = s.count;
    $inc[`m.${m}.sum`] = s.sum;
    $min[`m.${m}.min`] = s.min;
    $max[`m.${m}.max`] = s.max;
    const e = extra?.extras[m];
    if (e) {
      $inc[`m.${m}.sumSq`] = e.sumSq;
      $inc[`m.${m}.sqCount`] = e.sqCount;
    }
  }
  const seqs = group.map((r) => r.seq);
  const lastPairs = mode === "all" ? (Object.entries(extra?.extras ?? {}) as [Measurement, MinuteExtras][]) : [];
  return {
    updateOne: {
      filter: {
        _id: `${monitorId}:${minute}`,
        ingested: { $nin: seqs },
        ...(lastPairs.length > 0 ? { $and: lastPairs.map(([m, x]) => olderLast(m, x)) } : {}),
      },
      // The `one` form runs once the document exists: no upsert, so a guard that does not match
      // is no error, just no change.
      update: {
        $inc,
        $min,
        $max,
        $push: { ingested: { $each: seqs } },
        ...(lastPairs.length > 0 ? { $set: Object.assign({}, ...lastPairs.map(([m, x]) => setLast(m, x))) } : {}),
        ...(mode === "all" ? { $setOnInsert: { monitorId, minute } } : {}),
      },
      upsert: mode === "all",
    },
  } as AnyBulkWriteOperation<RollupDoc>;
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
   * Folds readings into their minute documents, each reading exactly once however often it is
   * applied. One upsert per monitor and minute (`$inc` / `$min` / `$max`, commutative, so two
   * instances writing the same minute add up) that also records the readings' stream sequences
   * in the document's `ingested` list and matches only while none of them is there: the
   * increment and its record are one single-document update, atomic, so a round redelivered after
   * a crash (some or all of its readings already counted, in any grouping) neither misses nor
   * doubles a reading. An upsert whose guard does not match an existing document (only on
   * redelivery) fails as a duplicate key, as does a race of two instances creating one document:
   * then each reading is applied on its own with the same guard (see below). Then each measurement's
   * `(lastAt, last)` is set by a conditional update that matches only while the stored pair is
   * older (see `MinuteExtras`): idempotent by itself. A minute's `ingested` list is bounded by the
   * readings one monitor sends in a minute.
   */
  async apply(readings: readonly RollupReading[]): Promise<void> {
    const groups = new Map<string, RollupReading[]>();
    for (const r of readings) {
      if (Object.keys(r.reading.values).length === 0) continue;
      const key = `${r.monitorId}:${minuteStart(r.reading.at)}`;
      const g = groups.get(key);
      if (g) g.push(r);
      else groups.set(key, [r]);
    }
    if (groups.size === 0) return;
    const slow: RollupReading[][] = [];
    await Promise.all(
      chunked([...groups.values()]).map(async (chunk) => {
        try {
          await this.rollups.bulkWrite(
            chunk.map((g) => upsertOf(g, "all")),
            { ordered: false },
          );
          return;
        } catch (err) {
          if (duplicateIndexes(err).length === 0) throw err;
        }
        // A guard that did not match (a redelivery, a reading older than the stored last) or two
        // instances creating one document at once. Which operations ran is not relied on
        // (FerretDB may stop an unordered bulk at its first error): the documents are created
        // where missing, then every reading of the chunk is applied on its own with its guard,
        // which cannot fail and skips the readings counted, and `last` is set on its own.
        await this.ensureDocs(chunk);
        await this.applyMissing(chunk);
        slow.push(...chunk);
      }),
    );
    if (slow.length > 0) await this.applyLast(rollupExtras(slow.flat()));
  }

  /**
   * The readings of these groups not yet in their (existing) documents' `ingested` lists, each
   * group as one guarded update; if a list changed in between (another instance), every reading
   * of the groups on its own with its guard.
   */
  private async applyMissing(groups: readonly RollupReading[][]): Promise<void> {
    const idOf = (g: readonly RollupReading[]) =>
      `${(g[0] as RollupReading).monitorId}:${minuteStart((g[0] as RollupReading).reading.at)}`;
    const docs = await this.rollups.find({ _id: { $in: groups.map(idOf) } }, { projection: { ingested: 1 } }).toArray();
    const seen = new Map(docs.map((d) => [d._id, new Set(d.ingested ?? [])]));
    const missing = groups.map((g) => g.filter((r) => !seen.get(idOf(g))?.has(r.seq))).filter((g) => g.length > 0);
    if (missing.length === 0) return;
    const res = await this.rollups.bulkWrite(
      missing.map((g) => upsertOf(g, "one")),
      { ordered: true },
    );
    if (res.matchedCount === missing.length) return;
    const single = missing.flatMap((g) => g.map((r) => upsertOf([r], "one")));
    for (const part of chunked(single)) await this.rollups.bulkWrite(part, { ordered: true });
  }

  /** Creates the minute documents of these groups where missing (a creation race is retried once). */
  private async ensureDocs(groups: readonly RollupReading[][]): Promise<void> {
    const ops = groups.map((g) => {
      const { monitorId, reading } = g[0] as RollupReading;
      const minute = minuteStart(reading.at);
      return {
        updateOne: {
          filter: { _id: `${monitorId}:${minute}` },
          update: { $setOnInsert: { monitorId, minute } },
          upsert: true,
        },
      } as AnyBulkWriteOperation<RollupDoc>;
    });
    for (let attempt = 0; ; attempt++) {
      try {
        await this.rollups.bulkWrite(ops, { ordered: true });
        return;
      } catch (err) {
        if (attempt > 0 || duplicateIndexes(err).length === 0) throw err;
      }
    }
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
    const older = olderLast;
    const set = setLast;
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
