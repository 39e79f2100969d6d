import type { MonitorSettingsChange } from "@trellis/contracts";
import type { OutboxUpdate } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";
import type { MonitorDoc, PresenceEntry } from "./monitors.ts";

/** What the sweeper needs of a monitor to claim and announce its transition. */
export type PresenceCandidate = Pick<
  MonitorDoc,
  "_id" | "ownerId" | "lastSeenAt" | "offlineDueAt" | "offlineAfterSeconds" | "presence"
>;

const CANDIDATE = { _id: 1, ownerId: 1, lastSeenAt: 1, offlineDueAt: 1, offlineAfterSeconds: 1, presence: 1 } as const;

/**
 * Presence and per-monitor settings of monitors (collection `monitors`, the fields ingest writes
 * with each round: `lastSeenAt`, `offlineDueAt`). Every transition is one conditional update
 * (`claim*`): of several telemetry instances trying the same transition, exactly one modifies
 * the document, and only that one announces it.
 */
export class PresenceStore {
  /** Also the holders of the presence outbox (presence/tracker.ts). */
  readonly monitors: Collection<MonitorDoc>;

  constructor(db: Db) {
    this.monitors = db.collection<MonitorDoc>("monitors");
  }

  async ensureIndexes(): Promise<void> {
    // The sweeper's two queries: equality on presence, range on offlineDueAt.
    await this.monitors.createIndex({ presence: 1, offlineDueAt: 1 }, { name: "presence_offlineDueAt" });
  }

  /**
   * Every monitor's id and retention override, in id order, read at once (small documents): a
   * cursor held open through a long retention run lost monitors on FerretDB (17 of 20 in the bench).
   */
  retentionList(): Promise<Pick<MonitorDoc, "_id" | "readingsRetentionDays">[]> {
    return this.monitors
      .find({}, { projection: { _id: 1, readingsRetentionDays: 1 } })
      .sort({ _id: 1 })
      .toArray();
  }

  /** Online monitors whose timeout has passed, most overdue first, at most `limit`. */
  overdue(now: number, limit: number): Promise<PresenceCandidate[]> {
    return this.monitors
      .find({ presence: "online", offlineDueAt: { $lte: now } }, { projection: CANDIDATE })
      .sort({ offlineDueAt: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * Monitors not marked online (offline, or never) although a reading came within their timeout:
   * a round that ingest could not claim for (it read the monitor just before the sweeper marked
   * it offline, or the claim failed), or a timeout made longer. At most `limit`.
   */
  backOnline(now: number, limit: number): Promise<PresenceCandidate[]> {
    return (
      this.monitors
        // `null` matches a monitor never marked (its first claim failed).
        .find(
          { presence: { $in: ["offline", null] as never[] }, offlineDueAt: { $gt: now } },
          { projection: CANDIDATE },
        )
        .limit(limit)
        .toArray()
    );
  }

  /**
   * Online → offline, only while the timeout has passed (a reading since moved `offlineDueAt`).
   * `outbox`: the transition's announcement, committed with it.
   */
  async claimOffline(id: string, now: number, outbox: OutboxUpdate<PresenceEntry> = { $set: {} }): Promise<boolean> {
    const res = await this.monitors.updateOne(
      { _id: id, presence: "online", offlineDueAt: { $lte: now } },
      {
        $set: { presence: "offline", presenceChangedAt: now, ...outbox.$set },
        ...(outbox.$min ? { $min: outbox.$min } : {}),
      },
    );
    return res.modifiedCount === 1;
  }

  /** Not online (offline, or never seen) → online, only while a reading within the timeout says so. */
  async claimOnline(id: string, now: number, outbox: OutboxUpdate<PresenceEntry> = { $set: {} }): Promise<boolean> {
    const res = await this.monitors.updateOne(
      { _id: id, presence: { $ne: "online" }, offlineDueAt: { $gt: now } },
      {
        $set: { presence: "online", presenceChangedAt: now, ...outbox.$set },
        ...(outbox.$min ? { $min: outbox.$min } : {}),
      },
    );
    return res.modifiedCount === 1;
  }

  /**
   * Applies a settings change and, when the timeout changed, moves `offlineDueAt` to the last
   * reading plus the new timeout (conditional on `lastSeenAt`, so a round written meanwhile,
   * which sets its own, wins). Null when there is no such monitor.
   */
  async updateSettings(
    id: string,
    change: MonitorSettingsChange,
    defaultOfflineAfterSeconds: number,
  ): Promise<MonitorDoc | null> {
    const $set: Record<string, number> = {};
    const $unset: Record<string, ""> = {};
    for (const key of ["offlineAfterSeconds", "readingsRetentionDays"] as const) {
      const v = change[key];
      if (v === null) $unset[key] = "";
      else if (v !== undefined) $set[key] = v;
    }
    const update = {
      ...(Object.keys($set).length > 0 ? { $set } : {}),
      ...(Object.keys($unset).length > 0 ? { $unset } : {}),
    };
    // An update, then a read (FerretDB's findAndModify takes no projection, and the strings are large).
    if (Object.keys(update).length > 0) await this.monitors.updateOne({ _id: id }, update);
    const doc = await this.monitors.findOne({ _id: id }, { projection: { strings: 0 } });
    if (!doc) return null;
    if (change.offlineAfterSeconds !== undefined && doc.lastSeenAt !== undefined) {
      const due = doc.lastSeenAt + (doc.offlineAfterSeconds ?? defaultOfflineAfterSeconds) * 1_000;
      await this.monitors.updateOne({ _id: id, lastSeenAt: doc.lastSeenAt }, { $set: { offlineDueAt: due } });
      doc.offlineDueAt = due;
    }
    return doc;
  }
}
