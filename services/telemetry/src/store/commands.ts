import type { CommandState } from "@trellis/contracts";
import type { Collection, Db, Filter } from "mongodb";

export interface CommandDoc {
  /** A UUID. */
  _id: string;
  monitorId: string;
  /** The monitor's owner when the command was sent: who may read it besides admins. */
  ownerId: string;
  name: string;
  params: Record<string, unknown>;
  persistent: boolean;
  timeoutMs: number;
  state: CommandState;
  createdAt: Date;
  /** Not delivered by then: `expired` (persistent) or no longer tried (non-persistent). */
  expiresAt: Date;
  deliveredAt: Date | null;
  /** Delivered and not answered by then: `failed` ("no answer within N ms"). */
  answerBy: Date | null;
  finishedAt: Date | null;
  attempts: number;
  result?: unknown;
  error: string | null;
  /**
   * The delivery lease: the instance trying to deliver it now, until when. Only the holder of a
   * live lease sends a pending command, so two instances never deliver it twice.
   */
  claimedBy: string | null;
  claimUntil: Date | null;
  /** A pending persistent command is tried again from then (sooner when its device is seen). */
  nextAttemptAt: Date;
}

/** A pending command whose lease is free or lapsed (its holder finished or died). */
const unclaimed = (now: Date): Filter<CommandDoc> => ({
  $or: [{ claimUntil: null }, { claimUntil: { $lte: now } }],
});

/** Commands (collection `commands`); every state change is one conditional single-document update. */
export class CommandsStore {
  private readonly commands: Collection<CommandDoc>;

  constructor(db: Db) {
    this.commands = db.collection<CommandDoc>("commands");
  }

  async ensureIndexes(): Promise<void> {
    await this.commands.createIndex({ monitorId: 1, createdAt: -1, _id: -1 }, { name: "monitor_newest" });
    await this.commands.createIndex({ state: 1, nextAttemptAt: 1 }, { name: "state_next" });
  }

  async insert(doc: CommandDoc): Promise<void> {
    await this.commands.insertOne(doc);
  }

  get(id: string): Promise<CommandDoc | null> {
    return this.commands.findOne({ _id: id });
  }

  /** A monitor's commands, newest first, after the cursor's position. */
  page(monitorId: string, limit: number, after?: { createdAt: Date; id: string }): Promise<CommandDoc[]> {
    const filter: Filter<CommandDoc> = after
      ? {
          monitorId,
          $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }],
        }
      : { monitorId };
    return this.commands.find(filter).sort({ createdAt: -1, _id: -1 }).limit(limit).toArray();
  }

  /** Takes the delivery lease of a pending, unexpired command; the command after, or null if someone else has it. */
  claim(id: string, instance: string, now: Date, leaseMs: number): Promise<CommandDoc | null> {
    return this.commands.findOneAndUpdate(
      { _id: id, state: "pending", expiresAt: { $gt: now }, ...unclaimed(now) },
      { $set: { claimedBy: instance, claimUntil: new Date(now.getTime() + leaseMs) }, $inc: { attempts: 1 } },
      { returnDocument: "after" },
    );
  }

  /**
   * Moves a command on if it is still where `from` says (state, and lease holder for a pending
   * one); the command after, or null when it had moved on already (another instance, the sweep).
   * `doc` is the command as the caller last saw it: the only writer of a command in that state
   * (the lease holder, or whoever wins this update), so the result is computed, not read back.
   */
  async transition(
    doc: CommandDoc,
    from: { state: CommandState; claimedBy?: string; unclaimedAt?: Date },
    set: Partial<CommandDoc>,
  ): Promise<CommandDoc | null> {
    let filter: Filter<CommandDoc> = { _id: doc._id, state: from.state };
    if (from.claimedBy !== undefined) filter.claimedBy = from.claimedBy;
    if (from.unclaimedAt !== undefined) filter = { ...filter, ...unclaimed(from.unclaimedAt) };
    const change = { ...set, claimedBy: null, claimUntil: null };
    const { matchedCount } = await this.commands.updateOne(filter, { $set: change });
    return matchedCount === 1 ? { ...doc, ...change } : null;
  }

  /** Pending commands whose lease is free and whose next attempt is due (all of a monitor's, when given), oldest first. */
  due(now: Date, limit: number, monitorId?: string): Promise<CommandDoc[]> {
    const filter: Filter<CommandDoc> = monitorId
      ? { monitorId, state: "pending", expiresAt: { $gt: now }, ...unclaimed(now) }
      : { state: "pending", nextAttemptAt: { $lte: now }, expiresAt: { $gt: now }, ...unclaimed(now) };
    return this.commands.find(filter).sort({ createdAt: 1 }).limit(limit).toArray();
  }

  /** Pending commands past their expiry whose lease is free. */
  expirable(now: Date, limit: number): Promise<CommandDoc[]> {
    return this.commands
      .find({ state: "pending", expiresAt: { $lte: now }, ...unclaimed(now) })
      .limit(limit)
      .toArray();
  }

  /** Delivered commands whose answer is overdue by then. */
  overdue(before: Date, limit: number): Promise<CommandDoc[]> {
    return this.commands
      .find({ state: "delivered", answerBy: { $lte: before } })
      .limit(limit)
      .toArray();
  }

  /** A deleted monitor's commands (its history goes with it; a waiting one is never delivered). */
  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.commands.deleteMany({ monitorId });
  }

  /** Monitors with a persistent command waiting: their devices are watched for a sign of life. */
  async waitingMonitors(limit: number): Promise<Set<string>> {
    const docs = await this.commands
      .find({ state: "pending", persistent: true }, { projection: { monitorId: 1 } })
      .limit(limit)
      .toArray();
    return new Set(docs.map((d) => d.monitorId));
  }
}
