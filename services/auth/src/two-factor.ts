import { randomBytes } from "node:crypto";
import {
  type ClientInfo,
  type MfaStatus,
  RECOVERY_CODE_COUNT,
  type TotpEnrolment,
  TrellisError,
} from "@trellis/contracts";
import type { Redis } from "ioredis";
import { Secret, TOTP } from "otpauth";
import QRCode from "qrcode";
import type { SecretBox } from "./domain/secret-box.ts";
import { sha256Hex } from "./domain/tokens.ts";
import { type LoginLimits, mfaAccount } from "./rate-limit.ts";
import type { LoginLogStore } from "./store/login-log.ts";
import type { MfaDoc, MfaStore } from "./store/mfa.ts";
import type { UserDoc, UsersStore } from "./store/users.ts";

/** RFC 6238 as every authenticator app does it: HMAC-SHA1, 6 digits, 30-second steps. */
const TOTP_PARAMS = { algorithm: "SHA1", digits: 6, period: 30 } as const;
/** Steps either side of now that still count (clock drift, a code typed as it changed). */
const WINDOW = 1;
/** 160 bits, the HMAC-SHA1 key size RFC 4226 recommends. */
const SECRET_BYTES = 20;

export interface TwoFactorOptions {
  store: MfaStore;
  users: UsersStore;
  loginLog: LoginLogStore;
  limits: LoginLimits;
  box: SecretBox;
  redis: Redis;
  keyPrefix: string;
  /** The issuer shown by authenticator apps. */
  issuer: string;
  challengeTtlSeconds: number;
}

export type MfaMethod = "totp" | "recovery_code";

const wrongCode = () => new TrellisError("invalid_argument", "the code is incorrect");
const invalidChallenge = () =>
  new TrellisError("unauthenticated", "invalid or expired challenge: log in with your password again");
const badCode = () => new TrellisError("unauthenticated", "invalid code");

/** A recovery code as typed: case, spaces and dashes do not matter. */
const normalizeRecoveryCode = (code: string): string => code.toLowerCase().replace(/[^a-z0-9]/g, "");

/** 80 random bits as 16 base32 characters, `xxxx-xxxx-xxxx-xxxx`. */
function newRecoveryCode(): string {
  const b32 = new Secret({ size: 10 }).base32.toLowerCase();
  return (b32.match(/.{4}/g) ?? []).join("-");
}

/**
 * TOTP two-factor login (RFC 6238, with `otpauth`). Secrets are sealed by `SecretBox` and never
 * leave after enrolment; accepted time steps are spent atomically per user, recovery codes are kept
 * as sha256 digests (80 random bits each: a slow hash adds nothing) and spent once. Every code
 * checked counts against the user's `mfa:` failure limit and the client's, like passwords.
 */
export class TwoFactor {
  private readonly o: TwoFactorOptions;

  constructor(options: TwoFactorOptions) {
    this.o = options;
  }

  async status(userId: string): Promise<MfaStatus> {
    const doc = await this.o.store.findByUser(userId);
    return {
      totp: {
        enabled: doc?.enabled === true,
        pending: doc !== null && !doc.enabled,
        enabledAt: doc?.enabledAt ? doc.enabledAt.toISOString() : null,
        recoveryCodesLeft: doc?.enabled ? doc.recoveryHashes.length : 0,
      },
    };
  }

  async isEnabled(userId: string): Promise<boolean> {
    return (await this.o.store.findByUser(userId))?.enabled === true;
  }

  async enroll(user: UserDoc): Promise<TotpEnrolment> {
    const secret = new Secret({ size: SECRET_BYTES });
    const totp = new TOTP({ ...TOTP_PARAMS, issuer: this.o.issuer, label: user.username, secret });
    if (!(await this.o.store.setPending(user._id, this.o.box.seal(secret.base32, user._id), new Date()))) {
      throw new TrellisError("conflict", "two-factor login is already on; turn it off first");
    }
    const otpauthUri = totp.toString();
    return {
      secret: secret.base32,
      otpauthUri,
      qrCode: await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: "M" }),
    };
  }

  /** Turns TOTP on with a first code; answers the recovery codes (the only time they are shown). */
  async confirm(userId: string, code: string, client: ClientInfo): Promise<string[]> {
    const doc = await this.o.store.findByUser(userId);
    if (!doc || doc.enabled) throw new TrellisError("conflict", "no two-factor enrolment is pending");
    return this.limited(
      userId,
      client,
      async () => {
        const step = this.acceptedStep(doc, code, Date.now());
        if (step === null) return null;
        const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
        const hashes = codes.map((c) => sha256Hex(normalizeRecoveryCode(c)));
        return (await this.o.store.enable(userId, step, hashes, new Date())) ? codes : null;
      },
      wrongCode,
    );
  }

  /** Turns TOTP off with a current code or a recovery code. */
  async disable(userId: string, code: string, client: ClientInfo): Promise<void> {
    const doc = await this.o.store.findByUser(userId);
    if (!doc?.enabled) throw new TrellisError("conflict", "two-factor login is not on");
    const method: MfaMethod = /^\s*[0-9]{3}\s*[0-9]{3}\s*$/.test(code) ? "totp" : "recovery_code";
    await this.limited(userId, client, async () => ((await this.spend(doc, method, code)) ? true : null), wrongCode);
    await this.o.store.delete(userId);
  }

  /** An admin's reset: false when the user had no two-factor settings. */
  reset(userId: string): Promise<boolean> {
    return this.o.store.delete(userId);
  }

  /**
   * After a right first factor: nothing when the user has no two-factor login, otherwise throws
   * `mfa_required` with a one-time challenge (kept in Redis by its sha256 for `challengeTtlSeconds`).
   */
  async challengeIfEnrolled(user: UserDoc): Promise<void> {
    if (!(await this.isEnabled(user._id))) return;
    const challenge = randomBytes(32).toString("base64url");
    await this.o.redis.set(this.challengeKey(challenge), user._id, "EX", this.o.challengeTtlSeconds);
    throw new TrellisError("mfa_required", "two-factor authentication is required: send a code with the challenge", {
      details: { challenge },
    });
  }

  /** Completes a login with the challenge and a code; the challenge is spent by the first success. */
  async complete(challenge: string, method: MfaMethod, code: string, client: ClientInfo): Promise<UserDoc> {
    const key = this.challengeKey(challenge);
    const userId = await this.o.redis.get(key);
    if (!userId) throw invalidChallenge();
    const [user, doc] = await Promise.all([this.o.users.findById(userId), this.o.store.findByUser(userId)]);
    // Two-factor login turned off (or the user deleted) since the first step: start again.
    if (!user || !doc?.enabled) {
      await this.o.redis.del(key);
      throw invalidChallenge();
    }
    const log = (success: boolean) =>
      this.o.loginLog.record({
        at: new Date(),
        userId,
        usernameLower: user.usernameLower,
        method,
        success,
        clientAddress: client.address,
        proofResourceId: null,
      });
    try {
      await this.limited(
        userId,
        client,
        async () => {
          if (!(await this.spend(doc, method, code))) return null;
          // Spent by the first of two concurrent completions only.
          return (await this.o.redis.del(key)) === 1 ? true : null;
        },
        badCode,
      );
    } catch (err) {
      await log(false);
      throw err;
    }
    await log(true);
    return user;
  }

  private challengeKey(challenge: string): string {
    return `${this.o.keyPrefix}mfa-challenge:${sha256Hex(challenge)}`;
  }

  /** Runs a code check under the user's `mfa:` failure limit: a null result is a failure. */
  private async limited<T>(
    userId: string,
    client: ClientInfo,
    check: () => Promise<T | null>,
    failure: () => TrellisError,
  ): Promise<T> {
    const account = mfaAccount(userId);
    await this.o.limits.begin(account, client.address);
    const result = await check();
    if (result === null) throw failure();
    await this.o.limits.succeeded(account, client.address);
    return result;
  }

  private async spend(doc: MfaDoc, method: MfaMethod, code: string): Promise<boolean> {
    if (method === "recovery_code") {
      const normalized = normalizeRecoveryCode(code);
      return normalized.length > 0 && this.o.store.spendRecoveryCode(doc._id, sha256Hex(normalized));
    }
    const step = this.acceptedStep(doc, code, Date.now());
    return step !== null && this.o.store.spendStep(doc._id, step);
  }

  /** The time step a code is right for (within the window, after the last one used), or null. */
  private acceptedStep(doc: MfaDoc, code: string, now: number): number | null {
    const token = code.replace(/\s+/g, "");
    if (!/^[0-9]{6}$/.test(token)) return null;
    const secret = Secret.fromBase32(this.o.box.open(doc.totpSecret, doc._id));
    const delta = TOTP.validate({ ...TOTP_PARAMS, token, secret, timestamp: now, window: WINDOW });
    if (delta === null) return null;
    const step = TOTP.counter({ period: TOTP_PARAMS.period, timestamp: now }) + delta;
    return step > doc.lastStep ? step : null;
  }
}
