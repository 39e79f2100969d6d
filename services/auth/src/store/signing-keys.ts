import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";

export interface SigningKeyDoc {
  _id: "current";
  kid: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  publicJwk: Record<string, unknown>;
  createdAt: Date;
}

/** The key pair every auth instance signs with (collection `signing_keys`). */
export class SigningKeysStore {
  private readonly keys: Collection<SigningKeyDoc>;

  constructor(db: Db) {
    this.keys = db.collection<SigningKeyDoc>("signing_keys");
  }

  /**
   * Stores `candidate` as the current key unless one is stored already, and returns the stored one:
   * instances starting at once all end up with the same key, whichever wrote it.
   */
  async currentOr(candidate: Omit<SigningKeyDoc, "_id">): Promise<SigningKeyDoc> {
    try {
      const stored = await this.keys.findOneAndUpdate(
        { _id: "current" },
        { $setOnInsert: candidate },
        { upsert: true, returnDocument: "after" },
      );
      if (stored) return stored;
    } catch (err) {
      // Two upserts at once: the loser may see the winner's insert as a duplicate key.
      if (!isDuplicateKey(err)) throw err;
    }
    const again = await this.keys.findOne({ _id: "current" });
    if (!again) throw new Error("signing key was neither stored nor found");
    return again;
  }
}
