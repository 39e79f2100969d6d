import { randomBytes } from "node:crypto";
import { argon2id, hash, needsRehash, verify } from "argon2";

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/**
 * argon2id hashing. `verify` against no stored hash still runs a full verification (against a
 * dummy hash made at start with the same parameters), so an unknown account takes as long to
 * refuse as a wrong password.
 */
export class PasswordHasher {
  private readonly params: Argon2Params;
  private readonly dummyHash: string;

  private constructor(params: Argon2Params, dummyHash: string) {
    this.params = params;
    this.dummyHash = dummyHash;
  }

  static async create(params: Argon2Params): Promise<PasswordHasher> {
    const dummy = await hash(randomBytes(24).toString("base64url"), { ...params, type: argon2id });
    return new PasswordHasher(params, dummy);
  }

  hash(password: string): Promise<string> {
    return hash(password, { ...this.params, type: argon2id });
  }

  /** Whether `password` matches `stored`; always false (after the same work) when `stored` is null. */
  async verify(stored: string | null, password: string): Promise<boolean> {
    try {
      const ok = await verify(stored ?? this.dummyHash, password);
      return stored !== null && ok;
    } catch {
      return false;
    }
  }

  /** Whether a stored hash was made with weaker parameters than the current ones. */
  isOutdated(stored: string): boolean {
    try {
      return needsRehash(stored, this.params);
    } catch {
      return false;
    }
  }
}
