import { TrellisError } from "@trellis/contracts";
import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

export interface LoginLimitsOptions {
  keyPrefix: string;
  windowSeconds: number;
  maxFailuresPerAccount: number;
  maxFailuresPerClient: number;
}

/** Which account an attempt is for; users and monitors have separate counters. */
export type AccountKey = `user:${string}` | `monitor:${string}` | `mfa:${string}`;
export const userAccount = (username: string): AccountKey => `user:${username.toLowerCase()}`;
export const monitorAccount = (monitorId: string): AccountKey => `monitor:${monitorId.toLowerCase()}`;
/**
 * Second-factor codes of a user count apart from their passwords: a right password clears the
 * password count, and must not clear the count of wrong codes too.
 */
export const mfaAccount = (userId: string): AccountKey => `mfa:${userId}`;

/**
 * Failed logins counted in Redis per account and per client address within a fixed window. Once
 * either count reaches its maximum, attempts are refused before any credential is checked.
 *
 * Each attempt reserves a failure up front and a success gives it back, so a burst of parallel
 * guesses cannot slip past the limit while their checks are still running.
 */
export class LoginLimits {
  private readonly perAccount: RateLimiterRedis;
  private readonly perClient: RateLimiterRedis;

  constructor(redis: Redis, options: LoginLimitsOptions) {
    const limiter = (scope: string, points: number) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${options.keyPrefix}login-failures:${scope}`,
        points,
        duration: options.windowSeconds,
      });
    this.perAccount = limiter("account", options.maxFailuresPerAccount);
    this.perClient = limiter("client", options.maxFailuresPerClient);
  }

  /**
   * Counts an attempt as failed until `succeeded` says otherwise. Throws `rate_limited` (with
   * `retryAfterSeconds`) when the account or the client has no failures left; a refused attempt
   * is not counted.
   */
  async begin(account: AccountKey, clientAddress: string): Promise<void> {
    const results = await Promise.allSettled([this.perAccount.consume(account), this.perClient.consume(clientAddress)]);
    const refused = results.flatMap((r) =>
      r.status === "rejected" && r.reason instanceof RateLimiterRes ? [r.reason] : [],
    );
    const broken = results.find((r) => r.status === "rejected" && !(r.reason instanceof RateLimiterRes));
    if (refused.length === 0 && !broken) return;
    await Promise.all([
      results[0].status === "fulfilled" ? this.perAccount.reward(account, 1) : undefined,
      results[1].status === "fulfilled" ? this.perClient.reward(clientAddress, 1) : undefined,
    ]);
    if (broken?.status === "rejected") throw broken.reason;
    const waitMs = Math.max(...refused.map((r) => r.msBeforeNext));
    throw new TrellisError("rate_limited", "too many failed login attempts; try again later", {
      details: { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) },
    });
  }

  /** The attempt succeeded: the account's count is cleared, the client's reservation given back. */
  async succeeded(account: AccountKey, clientAddress: string): Promise<void> {
    await Promise.all([this.perAccount.delete(account), this.perClient.reward(clientAddress, 1)]);
  }
}
