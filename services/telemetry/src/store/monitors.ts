import type { Measurement, PresenceChange, StringField } from "@trellis/contracts";
import { chunked, isDuplicateKey } from "@trellis/runtime";
import type { AnyBulkWriteOperation, Collection, Db } from "mongodb";
import { latestChanges } from "../domain/latest.ts";
import type { NormalizedReading } from "../domain/reading.ts";
import type { LatestState } from "../domain/v1-shape.ts";

export interface MonitorDoc {
  /** The monitor id, lowercased (seed 002: 32 hex characters). */
  _id: string;
  ownerId: string;
  createdAt: Date;
  /** Latest value of each measurement and when it was measured (ms). */
  latest?: Partial<Record<Measurement, { value: number; at: number }>>;
  /** Latest camera strings (up to 1.5 MB each): kept here only, not in every reading. */
  strings?: Partial<Record<StringField, { value: string; at: number }>>;
  /** When each string was measured (ms), readable without loading the strings. */
  stringsAt?: Partial<Record<StringField, number>>;
  /** Newest reading timestamp (ms); absent until the first reading. */
  lastReadingAt?: number;
  readingsStored: number;
  readingsRejected: number;
  /**
   * Stream sequences of the readings counted in `readingsStored` / `readingsRejected` and not yet
   * known to be acknowledged: each is counted once (see `applyBatch`). Pruned below the ingest
   * consumer's ack floor, since an acknowledged reading is never delivered again.
   */
  ingested?: number[];
  /** When the stream last received a reading of this monitor (ms); absent until the first. */
  lastSeenAt?: number;
  /** `lastSeenAt` + the inactivity timeout in force when it was written: the sweeper's key. */
  offlineDueAt?: number;
  /** Absent until the first reading; each change is claimed by one conditional update (store/presence.ts). */
  presence?: "online" | "offline";
  /** When `presence` last changed (ms). */
  presenceChangedAt?: number;
  /** Overrides of telemetry's global settings. */
  offlineAfterSeconds?: number;
  readingsRetentionDays?: number;
  /** Presence transitions claimed and not announced yet (the runtime `Outbox`'s entries, with their due time). */
  outbox?: Record<string, PresenceEntry>;
  outboxDueAt?: number;
}

/** A claimed presence transition waiting to be announced (its event, live event and offline alarm). */
export interface PresenceEntry {
  /** `<state>-<claim time ms>`. */
  id: string;
  change: PresenceChange;
}

/** What a batch changes on one monitor. */
export interface MonitorBatchUpdate {
  monitorId: string;
  /** Stream sequences of the batch's readings of this monitor: `readingsStored` counts each once. */
  seqs: number[];
  /** Readings of the batch in stream order. */
  readings: readonly NormalizedReading[];
  /** Latest receive time of the batch's readings and when the monitor goes offline after it. */
  seen?: { at: number; offlineDueAt: number };
}

/** The part of a monitor that ingest reads before it writes a round. */
export type MonitorIngestState = Pick<
  MonitorDoc,
  "_id" | "latest" | "stringsAt" | "ownerId" | "presence" | "offlineAfterSeconds"
>;

/** Everything but the large strings: for views that do not show them. */
const SUMMARY = { strings: 0, ingested: 0 } as const;

/** Monitors (collection `monitors`). */
export class MonitorsStore {
  private readonly monitors: Collection<MonitorDoc>;

  constructor(db: Db) {
    this.monitors = db.collection<MonitorDoc>("monitors");
  }

  async ensureIndexes(): Promise<void> {
    await this.monitors.createIndex({ ownerId: 1 }, { name: "ownerId" });
  }

  /** False when a monitor with this id exists already. */
  async create(doc: MonitorDoc): Promise<boolean> {
    try {
      await this.monitors.insertOne(doc);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  findSummary(id: string): Promise<MonitorDoc | null> {
    return this.monitors.findOne({ _id: id }, { projection: SUMMARY });
  }

  findFull(id: string): Promise<MonitorDoc | null> {
    return this.monitors.findOne({ _id: id });
  }

  /** Every monitor, or those of one owner, ordered by id; with or without the large strings. */
  list(filter: { ownerId?: string }, options: { withStrings?: boolean } = {}): Promise<MonitorDoc[]> {
    return this.monitors
      .find(filter.ownerId === undefined ? {} : { ownerId: filter.ownerId }, {
        ...(options.withStrings ? {} : { projection: SUMMARY }),
      })
      .sort({ _id: 1 })
      .toArray();
  }

  /** Up to `limit` monitors (without the large strings), ordered by id, after `after` when given. */
  page(filter: { ownerId?: string }, limit: number, after?: string): Promise<MonitorDoc[]> {
    return this.monitors
      .find(
        {
          ...(filter.ownerId === undefined ? {} : { ownerId: filter.ownerId }),
          ...(after === undefined ? {} : { _id: { $gt: after } }),
        },
        { projection: SUMMARY },
      )
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * Every monitor id (with its owner), in id order, read through a cursor a batch at a time: for
   * views that go through all monitors one by one without holding them all.
   */
  async *eachId(): AsyncGenerator<Pick<MonitorDoc, "_id" | "ownerId">> {
    yield* this.monitors.find({}, { projection: { _id: 1, ownerId: 1 }, batchSize: 500 }).sort({ _id: 1 });
  }

  async delete(id: string): Promise<boolean> {
    return (await this.monitors.deleteOne({ _id: id })).deletedCount === 1;
  }

  /** Forgets the latest values and counters (the monitor stays). False when there is no such monitor. */
  async reset(id: string): Promise<boolean> {
    const res = await this.monitors.updateOne(
      { _id: id },
      {
        $unset: { latest: "", strings: "", stringsAt: "", lastReadingAt: "" },
        $set: { readingsStored: 0, readingsRejected: 0 },
      },
    );
    return res.matchedCount === 1;
  }

  /** Counts the rejected reading with stream sequence `seq`, once however often it is delivered. */
  async countRejected(id: string, seq: number): Promise<void> {
    await this.monitors.updateOne(
      { _id: id, ingested: { $ne: seq } },
      { $inc: { readingsRejected: 1 }, $push: { ingested: seq } },
    );
  }

  /** What ingest needs of these monitors (those that exist): the timestamps of their latest values. */
  async ingestState(ids: readonly string[]): Promise<Map<string, MonitorIngestState>> {
    if (ids.length === 0) return new Map();
    const docs = await this.monitors
      .find(
        { _id: { $in: [...ids] } },
        { projection: { latest: 1, stringsAt: 1, ownerId: 1, presence: 1, offlineAfterSeconds: 1 } },
      )
      .toArray();
    return new Map(docs.map((d) => [d._id, d]));
  }

  /**
   * Applies a round of readings: one update per monitor (not one per field), from the state
   * `ingestState` read before the round. Which values are newer is decided here
   * (`latestChanges`) from the stored timestamps (`stringsAt` keeps those of the large strings so
   * they need not be read), so the update needs no condition per field.
   */
  async applyBatch(
    updates: readonly MonitorBatchUpdate[],
    current: ReadonlyMap<string, MonitorIngestState>,
    ackFloor = 0,
  ): Promise<void> {
    const active = updates.filter((u) => u.readings.length > 0 && current.has(u.monitorId));
    if (active.length === 0) return;
    const ops: AnyBulkWriteOperation<MonitorDoc>[] = [];
    const idempotent = new Map<string, Record<string, unknown>>();
    const prune: string[] = [];
    for (const u of active) {
      const doc = current.get(u.monitorId) as MonitorIngestState;
      const changes = latestChanges(doc, u.readings);
      const set: Record<string, unknown> = {};
      for (const [m, v] of Object.entries(changes.latest)) set[`latest.${m}`] = v;
      for (const [f, v] of Object.entries(changes.strings)) {
        set[`strings.${f}`] = v;
        set[`stringsAt.${f}`] = v.at;
      }
      const update = {
        $max: {
          lastReadingAt: changes.lastAt,
          ...(u.seen ? { lastSeenAt: u.seen.at, offlineDueAt: u.seen.offlineDueAt } : {}),
        },
        ...(Object.keys(set).length > 0 ? { $set: set } : {}),
      };
      idempotent.set(u.monitorId, update);
      const pushed = (this.pushedSincePrune.get(u.monitorId) ?? 0) + u.seqs.length;
      if (pushed >= PRUNE_EVERY && ackFloor > 0) {
        prune.push(u.monitorId);
        this.pushedSincePrune.set(u.monitorId, 0);
      } else this.pushedSincePrune.set(u.monitorId, pushed);
      ops.push({
        updateOne: {
          filter: { _id: u.monitorId, ingested: { $nin: u.seqs } },
          update: { ...update, $inc: { readingsStored: u.seqs.length }, $push: { ingested: { $each: u.seqs } } },
        },
      } as AnyBulkWriteOperation<MonitorDoc>);
    }
    // Pruning the lists from time to time: what is at or below the ack floor is never delivered
    // again (this round's sequences are not acked yet, so above it).
    for (const id of prune) await this.pruneIngested(id, ackFloor);
    let matched = 0;
    for (const chunk of chunked(ops)) matched += (await this.monitors.bulkWrite(chunk, { ordered: true })).matchedCount;
    if (matched === ops.length) return;
    // Some guard did not match: a redelivered round, some of whose readings are already counted
    // (or a monitor deleted meanwhile). The bulk result does not say which, so every monitor of the
    // round gets the idempotent part of its update again, and its readings not yet in its list are
    // counted by one guarded update; if a list changed in between (another instance), each of its
    // readings gets its own guarded increment, which skips those counted.
    const docs = await this.monitors
      .find({ _id: { $in: active.map((u) => u.monitorId) } }, { projection: { ingested: 1 } })
      .toArray();
    const seen = new Map(docs.map((d) => [d._id, new Set(d.ingested ?? [])]));
    const retry: AnyBulkWriteOperation<MonitorDoc>[] = [];
    const guarded: { u: MonitorBatchUpdate; missing: number[] }[] = [];
    for (const u of active) {
      const _id = u.monitorId;
      retry.push({ updateOne: { filter: { _id }, update: idempotent.get(_id) as Record<string, unknown> } });
      const missing = u.seqs.filter((q) => !seen.get(_id)?.has(q));
      if (missing.length === 0 || !seen.has(_id)) continue;
      guarded.push({ u, missing });
      retry.push({
        updateOne: {
          filter: { _id, ingested: { $nin: missing } },
          update: { $inc: { readingsStored: missing.length }, $push: { ingested: { $each: missing } } },
        },
      } as AnyBulkWriteOperation<MonitorDoc>);
    }
    let again = 0;
    for (const chunk of chunked(retry)) again += (await this.monitors.bulkWrite(chunk, { ordered: true })).matchedCount;
    if (again === retry.length) return;
    const single: AnyBulkWriteOperation<MonitorDoc>[] = guarded.flatMap(({ u, missing }) =>
      missing.map(
        (seq) =>
          ({
            updateOne: {
              filter: { _id: u.monitorId, ingested: { $ne: seq } },
              update: { $inc: { readingsStored: 1 }, $push: { ingested: seq } },
            },
          }) as AnyBulkWriteOperation<MonitorDoc>,
      ),
    );
    for (const chunk of chunked(single)) await this.monitors.bulkWrite(chunk, { ordered: true });
  }

  /**
   * Drops the sequences at or below `floor` from a monitor's `ingested` list: one conditional
   * update that matches only while the list is as read (FerretDB ignores `$pull` with a condition),
   * so a concurrent push is never lost; when it does not match, a later round prunes.
   */
  private async pruneIngested(id: string, floor: number): Promise<void> {
    const doc = await this.monitors.findOne({ _id: id }, { projection: { ingested: 1 } });
    const list = doc?.ingested;
    if (!list) return;
    const keep = list.filter((s) => s > floor);
    if (keep.length === list.length) return;
    await this.monitors.updateOne({ _id: id, ingested: list }, { $set: { ingested: keep } });
  }

  /** Per monitor, sequences pushed to its `ingested` list by this process since it last pruned it. */
  private readonly pushedSincePrune = new Map<string, number>();
}

/** How many sequences this process adds to a monitor's `ingested` list between two prunes. */
const PRUNE_EVERY = 1_000;

/** The latest state of a monitor document, for the v1 view and `latest`. */
export function latestOf(doc: MonitorDoc): LatestState {
  return {
    values: doc.latest ?? {},
    foliage_feed: doc.strings?.foliage_feed?.value ?? null,
    root_stream: doc.strings?.root_stream?.value ?? null,
  };
}
