import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const SEALED = "a256gcm:";
const PLAIN = "plain:";

/**
 * Encrypts small secrets (TOTP seeds) for storage with AES-256-GCM, bound to their owner (the
 * additional data), so a copy of the database alone does not give them away. Without a key
 * (`MFA_ENCRYPTION_KEY` unset) they are stored as they are, marked `plain:`; a key set later
 * reads those still, and seals what is written from then on.
 */
export class SecretBox {
  private readonly key: Buffer | null;

  constructor(key: Buffer | null) {
    if (key !== null && key.length !== 32) throw new Error("the encryption key must be 32 bytes");
    this.key = key;
  }

  get encrypts(): boolean {
    return this.key !== null;
  }

  seal(secret: string, owner: string): string {
    if (!this.key) return `${PLAIN}${secret}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv).setAAD(Buffer.from(owner, "utf8"));
    const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    return `${SEALED}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
  }

  open(stored: string, owner: string): string {
    if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
    if (!stored.startsWith(SEALED)) throw new Error("unknown sealed secret format");
    if (!this.key) throw new Error("a sealed secret needs MFA_ENCRYPTION_KEY to be opened");
    const raw = Buffer.from(stored.slice(SEALED.length), "base64url");
    const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12))
      .setAAD(Buffer.from(owner, "utf8"))
      .setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
  }
}
