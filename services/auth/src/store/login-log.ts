import type { Collection, Db } from "mongodb";

export type LoginMethod = "password" | "face" | "refresh" | "totp" | "recovery_code";

export interface LoginLogDoc {
  at: Date;
  /** null when the attempted username (or refresh token) matched no user. */
  userId: string | null;
  /** The attempted username, lowercased; null for refresh attempts. */
  usernameLower: string | null;
  method: LoginMethod;
  success: boolean;
  clientAddress: string;
  /** Seed 000: what proved the login, e.g. the picture of a face login. */
  proofResourceId: string | null;
}

/** Every user login attempt (collection `login_log`). */
export class LoginLogStore {
  private readonly log: Collection<LoginLogDoc>;

  constructor(db: Db) {
    this.log = db.collection<LoginLogDoc>("login_log");
  }

  async ensureIndexes(): Promise<void> {
    await this.log.createIndex({ userId: 1, at: 1 }, { name: "userId_at" });
  }

  async record(entry: LoginLogDoc): Promise<void> {
    await this.log.insertOne({ ...entry });
  }

  /** Newest first (ties in the same millisecond broken by insertion order, via the ObjectId). */
  forUser(userId: string, limit: number): Promise<LoginLogDoc[]> {
    return this.log
      .find({ userId }, { projection: { _id: 0 } })
      .sort({ at: -1, _id: -1 })
      .limit(limit)
      .toArray();
  }

  async deleteForUser(userId: string): Promise<void> {
    await this.log.deleteMany({ userId });
  }
}
