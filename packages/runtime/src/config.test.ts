import { describe, expect, it } from "vitest";
import { z } from "zod";
import { baseConfigSchema, ConfigError, env, loadConfig, mongoConfigSchema } from "./config.ts";

describe("loadConfig", () => {
  it("applies defaults and coerces numbers", () => {
    const config = loadConfig(baseConfigSchema, { SHUTDOWN_TIMEOUT_MS: "2500" });
    expect(config).toMatchObject({ NATS_URL: "nats://127.0.0.1:4222", LOG_LEVEL: "info", SHUTDOWN_TIMEOUT_MS: 2500 });
  });

  it("reads METRICS_PORT: unset = no metrics endpoint, a port, 0 = any free port; anything else is refused", () => {
    expect(loadConfig(baseConfigSchema, {}).METRICS_PORT).toBeUndefined();
    expect(loadConfig(baseConfigSchema, {}).METRICS_HOST).toBe("127.0.0.1");
    expect(loadConfig(baseConfigSchema, { METRICS_PORT: "9464" }).METRICS_PORT).toBe(9464);
    expect(loadConfig(baseConfigSchema, { METRICS_PORT: "0" }).METRICS_PORT).toBe(0);
    for (const bad of ["metrics", "70000", "-1", "1.5"]) {
      expect(() => loadConfig(baseConfigSchema, { METRICS_PORT: bad })).toThrow(/METRICS_PORT: .*\(got /);
    }
  });

  it("reads tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (empty = unset); a bad value is refused by name", () => {
    expect(loadConfig(baseConfigSchema, {}).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(
      loadConfig(baseConfigSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: "" }).OTEL_EXPORTER_OTLP_ENDPOINT,
    ).toBeUndefined();
    expect(
      loadConfig(baseConfigSchema, {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
      }),
    ).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_TRACES_SAMPLER: "parentbased_always_on",
      OTEL_TRACES_SAMPLER_ARG: 0.25,
      OTEL_BSP_SCHEDULE_DELAY: 5_000,
    });
    expect(() => loadConfig(baseConfigSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: must be a http or https URL/,
    );
    expect(() => loadConfig(baseConfigSchema, { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL: .*grpc is not supported/,
    );
    expect(() => loadConfig(baseConfigSchema, { OTEL_TRACES_SAMPLER_ARG: "2" })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => loadConfig(baseConfigSchema, { OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(/OTEL_TRACES_SAMPLER/);
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
