import { Username } from "@trellis/contracts";
import { baseConfigSchema, env, mongoConfigSchema, redisSentinelConfigSchema } from "@trellis/runtime";
import { z } from "zod";
import { passwordProblem } from "./domain/password-policy.ts";

const DAY = 86_400;

/** OWASP's argon2id parameters: the defaults, and the floor (a lower value is a config error). */
export const ARGON2_MINIMUMS = { memoryKib: 19_456, timeCost: 2, parallelism: 1 } as const;

export const authConfigSchema = baseConfigSchema
  .extend(mongoConfigSchema.shape)
  .extend(redisSentinelConfigSchema.shape)
  .extend({
    MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_auth"),
    /** Redis for login rate limits and MFA challenges (`redis` or `rediss` URL). */
    REDIS_URL: env.url(["redis", "rediss"]).default("redis://127.0.0.1:6379"),
    /** Prefix of auth's Redis keys (tests give each file its own). */
    REDIS_KEY_PREFIX: z.string().min(1).max(100).default("trellis:auth:"),

    /** `open`: anyone may register as a user; `admin`: only admins create accounts. */
    REGISTRATION: z.enum(["open", "admin"]).default("open"),
    /** The first admin, created at start when no user has this username (both or neither). */
    TRELLIS_ADMIN_USERNAME: Username.optional(),
    /** The first admin's password (with TRELLIS_ADMIN_USERNAME); must pass the password policy. */
    TRELLIS_ADMIN_PASSWORD: z.string().min(1).optional(),

    /** argon2id memory per hash; OWASP's value is the floor. */
    ARGON2_MEMORY_KIB: env.int(ARGON2_MINIMUMS.memoryKib, 4_194_304).default(ARGON2_MINIMUMS.memoryKib),
    /** argon2id iterations; OWASP's value is the floor. */
    ARGON2_TIME_COST: env.int(ARGON2_MINIMUMS.timeCost, 100).default(ARGON2_MINIMUMS.timeCost),
    /** argon2id lanes; OWASP's value is the floor. */
    ARGON2_PARALLELISM: env.int(ARGON2_MINIMUMS.parallelism, 64).default(ARGON2_MINIMUMS.parallelism),

    /** The window failed logins are counted in (per account and per client address, in Redis). */
    LOGIN_FAILURE_WINDOW_SECONDS: env.int(1, DAY).default(900),
    /** Failed logins (or wrong second-factor codes) of one account in the window before 429. */
    LOGIN_MAX_FAILURES_PER_ACCOUNT: env.int(1, 1_000_000).default(10),
    /** Failed logins from one client address in the window before 429. */
    LOGIN_MAX_FAILURES_PER_CLIENT: env.int(1, 1_000_000).default(100),

    /** `iss` of the access tokens auth signs; the gateway's JWT_ISSUER must match. */
    JWT_ISSUER: z.string().min(1).max(200).default("trellis"),
    /** `aud` of the access tokens auth signs; the gateway's JWT_AUDIENCE must match. */
    JWT_AUDIENCE: z.string().min(1).max(200).default("trellis"),
    /** Lifetime of an access token (an ES256 JWT the gateways check themselves). */
    ACCESS_TOKEN_TTL_SECONDS: env.int(10, DAY).default(900),
    /** Lifetime of a refresh token; each use rotates it. */
    REFRESH_TOKEN_TTL_SECONDS: env.int(60, 365 * DAY).default(30 * DAY),
    /** Seed 002: v1 tokens expire after 4 hours unless `persist`. */
    V1_TOKEN_TTL_SECONDS: env.int(10, 365 * DAY).default(4 * 3_600),

    /** The issuer authenticator apps show beside a TOTP code. */
    MFA_ISSUER: z.string().min(1).max(100).default("Trellis"),
    /**
     * Base64 of 32 random bytes (`openssl rand -base64 32`): TOTP secrets are stored encrypted with
     * it (AES-256-GCM). Unset, they are stored plainly (never logged or returned after enrolment).
     */
    MFA_ENCRYPTION_KEY: z
      .string()
      .transform((v) => Buffer.from(v, "base64"))
      .refine((b) => b.length === 32, "must be base64 of exactly 32 bytes")
      .optional(),
    /** How long the challenge of an `mfa_required` answer can complete the login. */
    MFA_CHALLENGE_TTL_SECONDS: env.int(30, 3_600).default(300),

    /** Largest Euclidean distance between face encodings that still counts as the same face. */
    FACE_TOLERANCE: z.coerce.number().positive().max(10).default(0.6),

    /**
     * Seed of the account nkey the NATS server trusts for auth callout answers (the server config
     * names its public key). When set, this service decides which monitors may connect to NATS.
     */
    NATS_CALLOUT_ISSUER_SEED: z
      .string()
      .regex(/^SA[A-Z2-7]{56}$/, "must be an account nkey seed (starts with SA)")
      .optional(),
    /** The NATS account monitors are placed in: the one the services use. */
    NATS_ACCOUNT: z.string().min(1).max(100).default("TRELLIS"),
    /** Lifetime of a monitor's NATS authorization; a deleted monitor cannot renew it. */
    DEVICE_NATS_TTL_SECONDS: env.int(60, 7 * DAY).default(3_600),
  })
  .superRefine((c, ctx) => {
    const username = c.TRELLIS_ADMIN_USERNAME;
    const password = c.TRELLIS_ADMIN_PASSWORD;
    if ((username === undefined) !== (password === undefined)) {
      const missing = username === undefined ? "TRELLIS_ADMIN_USERNAME" : "TRELLIS_ADMIN_PASSWORD";
      ctx.addIssue({
        code: "custom",
        path: [missing],
        message: "must be set together with the other TRELLIS_ADMIN_ variable",
      });
    } else if (username !== undefined && password !== undefined) {
      const problem = passwordProblem(password, { username });
      if (problem) ctx.addIssue({ code: "custom", path: ["TRELLIS_ADMIN_PASSWORD"], message: problem });
    }
  });

export type AuthConfig = z.output<typeof authConfigSchema>;
