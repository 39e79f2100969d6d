import { describe, expect, it } from "vitest";
import { z } from "zod";
import { baseConfigSchema, ConfigError, env, loadConfig, mongoConfigSchema } from "./config.ts";

describe("loadConfig", () => {
  it("applies defaults and coerces numbers", () => {
    const config = loadConfig(baseConfigSchema, { SHUTDOWN_TIMEOUT_MS: "2500" });
    expect(config).toMatchObject({ NATS_URL: "nats://127.0.0.1:4222", LOG_LEVEL: "info", SHUTDOWN_TIMEOUT_MS: 2500 });
  });

  it("takes a cluster's NATS URLs as a comma-separated list, and JETSTREAM_REPLICAS (1 by default)", () => {
    const urls = "nats://127.0.0.1:4222,nats://127.0.0.1:4223, nats://127.0.0.1:4224";
    expect(loadConfig(baseConfigSchema, { NATS_URL: urls, JETSTREAM_REPLICAS: "3" })).toMatchObject({
      NATS_URL: urls,
      JETSTREAM_REPLICAS: 3,
    });
    expect(loadConfig(baseConfigSchema, {}).JETSTREAM_REPLICAS).toBe(1);
    expect(() => loadConfig(baseConfigSchema, { NATS_URL: "nats://a:1,http://b:2" })).toThrow(/NATS_URL/);
    expect(() => loadConfig(baseConfigSchema, { JETSTREAM_REPLICAS: "0" })).toThrow(/JETSTREAM_REPLICAS/);
  });

  it("names every bad variable and what it got", () => {
    const run = () =>
      loadConfig(baseConfigSchema, { NATS_URL: "http://x:1", LOG_LEVEL: "loud", SHUTDOWN_TIMEOUT_MS: "soon" });
    expect(run).toThrow(ConfigError);
    try {
      run();
    } catch (err) {
      const problems = (err as ConfigError).problems.join("\n");
      expect(problems).toMatch(/^NATS_URL: must be a nats or tls or ws or wss URL \(got "http:\/\/x:1"\)/m);
      expect(problems).toMatch(/^LOG_LEVEL: .*\(got "loud"\)/m);
      expect(problems).toMatch(/^SHUTDOWN_TIMEOUT_MS: .*\(got "soon"\)/m);
      expect((err as Error).message).toContain("invalid configuration");
    }
  });

  it("never echoes a secret's value", () => {
    const schema = z.object({ JWT_SECRET: z.string().min(32) });
    try {
      loadConfig(schema, { JWT_SECRET: "hunter2" });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain("JWT_SECRET");
      expect((err as Error).message).toContain("(set)");
      expect((err as Error).message).not.toContain("hunter2");
    }
  });

  it("reports a missing required variable as not set", () => {
    const schema = z.object({ REQUIRED_THING: z.string() });
    expect(() => loadConfig(schema, {})).toThrow(/REQUIRED_THING: .*\(not set\)/);
  });

  it("accepts comma-separated server lists and rejects bad URLs", () => {
    const url = env.url(["nats"]);
    expect(url.safeParse("nats://a:4222, nats://b:4222").success).toBe(true);
    expect(url.safeParse("nats://a:4222,not a url").success).toBe(false);
  });

  it("validates database names", () => {
    expect(mongoConfigSchema.safeParse({ MONGO_DB: "trellis_auth" }).success).toBe(true);
    expect(mongoConfigSchema.safeParse({ MONGO_DB: "bad name/$" }).success).toBe(false);
  });

  it("parses booleans strictly", () => {
    const b = env.bool();
    expect(b.parse("true")).toBe(true);
    expect(b.parse("0")).toBe(false);
    expect(b.safeParse("maybe").success).toBe(false);
  });
});
