import type { Collection, Db, Filter } from "mongodb";

interface SessionBase {
  _id: string;
  createdAt: Date;
  /** null: lives until revoked (a persisted v1 session). */
  expiresAt: Date | null;
  revokedAt: Date | null;
  /**
   * The login request's `User-Agent` and client address, and when the session last proved itself
   * to auth (login, refresh, v1 lookup). Absent on sessions stored before they were recorded.
   */
  userAgent?: string | null;
  clientAddress?: string | null;
  lastUsedAt?: Date;
}

/** Seed 002 session: the 32-hex token is known only by its sha256. */
export interface V1UserSession extends SessionBase {
  kind: "user";
  flavor: "v1";
  userId: string;
  tokenHash: string;
}
export interface V1MonitorSession extends SessionBase {
  kind: "monitor";
  flavor: "v1";
  monitorId: string;
  ownerId: string;
  tokenHash: string;
}
/** Modern session: JWTs name it in `sid`; its rotating refresh secret is known only by its sha256. */
export interface V2Session extends SessionBase {
  kind: "user";
  flavor: "v2";
  userId: string;
  refreshHash: string;
  refreshGeneration: number;
}
export type SessionDoc = V1UserSession | V1MonitorSession | V2Session;
export type V1Session = V1UserSession | V1MonitorSession;

export const isLive = (s: SessionDoc, now: Date): boolean =>
  s.revokedAt === null && (s.expiresAt === null || s.expiresAt.getTime() > now.getTime());

/** Sessions (collection `sessions`). Expired and revoked ones are removed by `sweep`, not by a TTL index. */
export class SessionsStore {
  private readonly sessions: Collection<SessionDoc>;

  constructor(db: Db) {
    this.sessions = db.collection<SessionDoc>("sessions");
  }

  async ensureIndexes(): Promise<void> {
    // Not unique: v2 sessions have no tokenHash and a missing field would count as a duplicate null
    // (no partial indexes on FerretDB). 128 random bits make a collision impossible in practice.
    await this.sessions.createIndex({ tokenHash: 1 }, { name: "tokenHash" });
    await this.sessions.createIndex({ userId: 1 }, { name: "userId" });
    await this.sessions.createIndex({ monitorId: 1 }, { name: "monitorId" });
    await this.sessions.createIndex({ revokedAt: 1 }, { name: "revokedAt" });
    await this.sessions.createIndex({ expiresAt: 1 }, { name: "expiresAt" });
  }

  async insert(session: SessionDoc): Promise<void> {
    await this.sessions.insertOne(session);
  }

  findById(id: string): Promise<SessionDoc | null> {
    return this.sessions.findOne({ _id: id });
  }

  findV1ByTokenHash(tokenHash: string): Promise<V1Session | null> {
    return this.sessions.findOne({ tokenHash, flavor: "v1" }) as Promise<V1Session | null>;
  }

  /**
   * Swaps the refresh hash if the session still holds `fromHash` and is live: only one of two
   * concurrent refreshes with the same token wins. Null when the swap did not happen.
   */
  rotateRefresh(id: string, fromHash: string, toHash: string, expiresAt: Date, now: Date): Promise<V2Session | null> {
    return this.sessions.findOneAndUpdate(
      { _id: id, flavor: "v2", refreshHash: fromHash, revokedAt: null, expiresAt: { $gt: now } },
      { $set: { refreshHash: toHash, expiresAt, lastUsedAt: now }, $inc: { refreshGeneration: 1 } },
      { returnDocument: "after" },
    ) as Promise<V2Session | null>;
  }

  /** Revokes one session; returns whether it was live-or-expired and not yet revoked. */
  async revoke(id: string, at: Date): Promise<boolean> {
    const res = await this.sessions.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: at } });
    return res.modifiedCount === 1;
  }

  /** Every unrevoked session of the user, but `exceptId` when given. */
  revokeAllOfUser(userId: string, at: Date, exceptId?: string): Promise<string[]> {
    return this.revokeWhere(exceptId === undefined ? { userId } : { userId, _id: { $ne: exceptId } }, at);
  }

  /** Revokes one live session of this user; false when it is another user's, unknown, ended or expired. */
  async revokeOfUser(id: string, userId: string, at: Date): Promise<boolean> {
    const res = await this.sessions.updateOne(
      { _id: id, userId, revokedAt: null, $or: [{ expiresAt: null }, { expiresAt: { $gt: at } }] },
      { $set: { revokedAt: at } },
    );
    return res.modifiedCount === 1;
  }

  /** The user's live sessions (v1 and v2), most recently used first. */
  liveOfUser(userId: string, now: Date): Promise<(V1UserSession | V2Session)[]> {
    return this.sessions
      .find({ userId, kind: "user", revokedAt: null, $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] })
      .sort({ lastUsedAt: -1, createdAt: -1 })
      .limit(1_000)
      .toArray() as Promise<(V1UserSession | V2Session)[]>;
  }

  /** Records a use of the session, at most once per `minIntervalMs` (a v1 token is looked up often). */
  async touch(id: string, at: Date, minIntervalMs: number): Promise<void> {
    await this.sessions.updateOne(
      {
        _id: id,
        $or: [{ lastUsedAt: { $exists: false } }, { lastUsedAt: { $lt: new Date(at.getTime() - minIntervalMs) } }],
      },
      { $set: { lastUsedAt: at } },
    );
  }

  revokeAllOfMonitor(monitorId: string, at: Date): Promise<string[]> {
    return this.revokeWhere({ monitorId }, at);
  }

  /** Ids of sessions revoked at or after `since`. */
  async revokedSince(since: Date): Promise<string[]> {
    const docs = await this.sessions.find({ revokedAt: { $gte: since } }, { projection: { _id: 1 } }).toArray();
    return docs.map((d) => d._id);
  }

  /** Deletes sessions that expired or were revoked before `before`; returns how many. */
  async sweep(before: Date): Promise<number> {
    const res = await this.sessions.deleteMany({
      $or: [{ expiresAt: { $lt: before } }, { revokedAt: { $lt: before } }],
    });
    return res.deletedCount;
  }

  /**
   * Marks every unrevoked session matching `filter` with this exact `at`, then reads back which
   * ones carry it: one multi-document update, so a session created meanwhile is not skipped by a
   * read-then-write gap.
   */
  private async revokeWhere(filter: Filter<SessionDoc>, at: Date): Promise<string[]> {
    const res = await this.sessions.updateMany({ ...filter, revokedAt: null }, { $set: { revokedAt: at } });
    if (res.modifiedCount === 0) return [];
    const docs = await this.sessions.find({ ...filter, revokedAt: at }, { projection: { _id: 1 } }).toArray();
    return docs.map((d) => d._id);
  }
}
