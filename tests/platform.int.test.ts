import { SERVICE_NAMES } from "@trellis/contracts";
import { freePort } from "@trellis/stack";
import {
  poll,
  type ServiceProcess,
  serviceEnvFrom,
  spawnService,
  startService,
  uniqueSuffix,
} from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const stack = useFileStack();
const suffix = uniqueSuffix();
let port: number;
let base: string;
const running = new Map<string, ServiceProcess>();

const envFor = (service: string, extra: Record<string, string> = {}) => ({
  ...serviceEnvFrom(stack),
  MONGO_DB: `t_${service}_${suffix}`,
  REDIS_KEY_PREFIX: `t:${suffix}:${service}:`,
  PORT: String(port),
  LOG_LEVEL: "debug",
  INSTANCE_ID: `${service}-${suffix}-1`,
  ...extra,
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
const json = (res: Response): Promise<any> => res.json();

interface Readiness {
  status: string;
  unavailable: string[];
  services: Record<string, { ok: boolean; instance?: string }>;
}

async function readyz(): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await json(res)) as Readiness };
}

const until = async <T>(probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> =>
  (await poll(probe, ok, { intervalMs: 100 })).value;

beforeAll(async () => {
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const started = await Promise.all(SERVICE_NAMES.map((s) => startService(s, envFor(s))));
  for (const p of started) running.set(p.name, p);
});

afterAll(async () => {
  await Promise.all([...running.values()].map((p) => p.stop()));
});

describe("the platform, as five real processes over real servers", () => {
  it("readyz reports five healthy services", async () => {
    const { status, body } = await until(readyz, (r) => r.status === 200);
    expect(status).toBe(200);
    expect(body.status).toBe("ready");
    expect(Object.keys(body.services).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const s of SERVICE_NAMES) expect(body.services[s]).toMatchObject({ ok: true, instance: `${s}-${suffix}-1` });
  });

  it("carries the HTTP request id through NATS into the service's log lines", async () => {
    const res = await fetch(`${base}/api/v2/services/auth/health`, { headers: { "x-request-id": `trace-${suffix}` } });
    expect(res.status).toBe(200);
    expect((await json(res)).dependencies.mongo.ok).toBe(true);
    const auth = running.get("auth") as ServiceProcess;
    const line = await auth.waitForLog((l) => l.reqId === `trace-${suffix}`, 5_000);
    expect(line).toMatchObject({ service: "auth", subject: "auth.v1.health" });
    const gateway = running.get("gateway") as ServiceProcess;
    await gateway.waitForLog((l) => l.reqId === `trace-${suffix}`, 5_000);
  });

  it("a stopped service shuts down gracefully, is named by readyz and answered with 503; back when restarted", async () => {
    const media = running.get("media") as ServiceProcess;
    running.delete("media");
    expect(await media.stop("SIGTERM")).toBe(143);
    expect(media.logs.some((l) => l.msg === "shutdown complete")).toBe(true);

    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body.unavailable).toEqual(["media"]);
    expect(down.body.services.auth?.ok).toBe(true);

    const res = await fetch(`${base}/api/v2/services/media/health`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect((await json(res)).error.code).toBe("unavailable");

    running.set("media", await startService("media", envFor("media")));
    const up = await until(readyz, (r) => r.status === 200);
    expect(up.status).toBe(200);
  });

  it("two instances of a service side by side both take requests, and either carries on alone", async () => {
    const second = await startService("auth", envFor("auth", { INSTANCE_ID: `auth-${suffix}-2` }));
    running.set("auth-2", second);
    const instances = new Set<string>();
    for (let i = 0; i < 40 && instances.size < 2; i++) {
      const res = await fetch(`${base}/api/v2/services/auth/health`);
      expect(res.status).toBe(200);
      instances.add((await json(res)).instance);
    }
    expect(instances).toEqual(new Set([`auth-${suffix}-1`, `auth-${suffix}-2`]));

    const first = running.get("auth") as ServiceProcess;
    running.delete("auth");
    expect(await first.stop()).toBe(143);
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/api/v2/services/auth/health`);
      expect(res.status).toBe(200);
      expect((await json(res)).instance).toBe(`auth-${suffix}-2`);
    }
  });

  it("a bad config value stops a service at start with a message naming the variable", async () => {
    const proc = spawnService(
      "telemetry",
      envFor("telemetry", { NATS_URL: "http://not-nats:1", SHUTDOWN_TIMEOUT_MS: "never" }),
    );
    expect(await proc.exited).toBe(78);
    expect(proc.output()).toContain("telemetry: invalid configuration");
    expect(proc.output()).toMatch(/NATS_URL: must be a nats .*URL \(got "http:\/\/not-nats:1"\)/);
    expect(proc.output()).toMatch(/SHUTDOWN_TIMEOUT_MS: .*\(got "never"\)/);
  });

  it("an unreachable dependency fails start-up with a logged reason and exit 1", async () => {
    const unused = await freePort();
    const proc = spawnService("media", envFor("media", { NATS_URL: `nats://127.0.0.1:${unused}` }));
    expect(await proc.exited).toBe(1);
    expect(proc.logs.some((l) => l.msg === "start-up failed" && l.level === "fatal")).toBe(true);
  });
});
