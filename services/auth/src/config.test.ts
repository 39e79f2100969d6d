import { ConfigError, loadConfig } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { authConfigSchema } from "./config.ts";

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(authConfigSchema, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
};

describe("auth config", () => {
  it("defaults to OWASP argon2id parameters, open registration and the seed's 4 h tokens", () => {
    const c = loadConfig(authConfigSchema, {});
    expect(c).toMatchObject({
      ARGON2_MEMORY_KIB: 19_456,
      ARGON2_TIME_COST: 2,
      ARGON2_PARALLELISM: 1,
      REGISTRATION: "open",
      REDIS_KEY_PREFIX: "trellis:auth:",
      V1_TOKEN_TTL_SECONDS: 14_400,
      ACCESS_TOKEN_TTL_SECONDS: 900,
      REFRESH_TOKEN_TTL_SECONDS: 30 * 86_400,
      LOGIN_FAILURE_WINDOW_SECONDS: 900,
      LOGIN_MAX_FAILURES_PER_ACCOUNT: 10,
      LOGIN_MAX_FAILURES_PER_CLIENT: 100,
      FACE_TOLERANCE: 0.6,
      JWT_ISSUER: "trellis",
      JWT_AUDIENCE: "trellis",
    });
  });

  it("takes a 32-byte MFA_ENCRYPTION_KEY in base64 and names (without showing) a wrong one", () => {
    const key = Buffer.alloc(32, 7);
    expect(loadConfig(authConfigSchema, { MFA_ENCRYPTION_KEY: key.toString("base64") }).MFA_ENCRYPTION_KEY).toEqual(
      key,
    );
    expect(loadConfig(authConfigSchema, {}).MFA_ENCRYPTION_KEY).toBeUndefined();
    const short = Buffer.alloc(16, 7).toString("base64");
    const problems = problemsOf({ MFA_ENCRYPTION_KEY: short });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^MFA_ENCRYPTION_KEY/);
    expect(problems[0]).not.toContain(short);
  });

  it("never goes below the OWASP parameters", () => {
    const problems = problemsOf({ ARGON2_MEMORY_KIB: "4096", ARGON2_TIME_COST: "1", ARGON2_PARALLELISM: "0" });
    expect(problems.map((p) => p.split(":")[0]).sort()).toEqual([
      "ARGON2_MEMORY_KIB",
      "ARGON2_PARALLELISM",
      "ARGON2_TIME_COST",
    ]);
    expect(loadConfig(authConfigSchema, { ARGON2_MEMORY_KIB: "65536" }).ARGON2_MEMORY_KIB).toBe(65_536);
  });

  it("wants both bootstrap admin variables or neither, and a password that passes the policy", () => {
    expect(problemsOf({ TRELLIS_ADMIN_USERNAME: "root" })).toEqual([
      expect.stringMatching(/^TRELLIS_ADMIN_PASSWORD: .*\(not set\)$/),
    ]);
    expect(problemsOf({ TRELLIS_ADMIN_PASSWORD: "Correct-Horse-Battery-9" })).toEqual([
      expect.stringMatching(/^TRELLIS_ADMIN_USERNAME: /),
    ]);
    const weak = problemsOf({ TRELLIS_ADMIN_USERNAME: "root", TRELLIS_ADMIN_PASSWORD: "password" });
    expect(weak).toEqual(["TRELLIS_ADMIN_PASSWORD: password is too common (set)"]);
    expect(problemsOf({ TRELLIS_ADMIN_USERNAME: "root", TRELLIS_ADMIN_PASSWORD: "Correct-Horse-Battery-9" })).toEqual(
      [],
    );
  });
});
