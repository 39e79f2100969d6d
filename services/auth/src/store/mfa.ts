import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";

export interface MfaDoc {
  /** The user id. */
  _id: string;
  /** The TOTP secret (base32) as `SecretBox` sealed it; never returned after enrolment. */
  totpSecret: string;
  /** false while enrolment awaits its first code. */
  enabled: boolean;
  createdAt: Date;
  enabledAt: Date | null;
  /** The last RFC 6238 time step a code was accepted for: a code is good for a later step only. */
  lastStep: number;
  /** sha256 of each unused recovery code (normalized). */
  recoveryHashes: string[];
}

/**
 * Two-factor settings (collection `user_mfa`, one document per enrolled user). Every change that
 * spends something (a time step, a recovery code) is one conditional update, so two requests with
 * the same code cannot both succeed.
 */
export class MfaStore {
  private readonly docs: Collection<MfaDoc>;

  constructor(db: Db) {
    this.docs = db.collection<MfaDoc>("user_mfa");
  }

  findByUser(userId: string): Promise<MfaDoc | null> {
    return this.docs.findOne({ _id: userId });
  }

  /** Stores a pending secret (replacing a pending one); false when TOTP is already on. */
  async setPending(userId: string, sealedSecret: string, now: Date): Promise<boolean> {
    try {
      const res = await this.docs.updateOne(
        { _id: userId, enabled: { $ne: true } },
        {
          $set: {
            totpSecret: sealedSecret,
            enabled: false,
            createdAt: now,
            enabledAt: null,
            lastStep: -1,
            recoveryHashes: [],
          },
        },
        { upsert: true },
      );
      return res.matchedCount === 1 || res.upsertedCount === 1;
    } catch (err) {
      // An enabled document has the id: the upsert's insert collides with it.
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** Turns a pending enrolment on, spending `step`; false when it is not pending (any more). */
  async enable(userId: string, step: number, recoveryHashes: string[], now: Date): Promise<boolean> {
    const res = await this.docs.updateOne(
      { _id: userId, enabled: false, lastStep: { $lt: step } },
      { $set: { enabled: true, enabledAt: now, lastStep: step, recoveryHashes } },
    );
    return res.modifiedCount === 1;
  }

  /** Spends a time step: true only for the first use of a step later than every one used before. */
  async spendStep(userId: string, step: number): Promise<boolean> {
    const res = await this.docs.updateOne(
      { _id: userId, enabled: true, lastStep: { $lt: step } },
      { $set: { lastStep: step } },
    );
    return res.modifiedCount === 1;
  }

  /** Spends a recovery code: true only for the first use of an unused one. */
  async spendRecoveryCode(userId: string, hash: string): Promise<boolean> {
    const res = await this.docs.updateOne(
      { _id: userId, enabled: true, recoveryHashes: hash },
      { $pull: { recoveryHashes: hash } },
    );
    return res.modifiedCount === 1;
  }

  /** Removes the user's two-factor settings; whether there were any. */
  async delete(userId: string): Promise<boolean> {
    const res = await this.docs.deleteOne({ _id: userId });
    return res.deletedCount === 1;
  }
}
