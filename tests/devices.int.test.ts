/**
 * Monitors straight to NATS: each connects with its own id and password (auth callout answered by
 * the auth service) and may publish only its own readings subject and listen only to its own
 * commands; a deleted monitor cannot connect again.
 */
import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, type Platform, startPlatform, within } from "./support/platform.ts";

const stack = useFileStack();
let platform: Platform;
let base: string;
let adminToken: string;
let ownerId: string;

async function addMonitor(): Promise<{ id: string; password: string }> {
  const monitor = { id: randomBytes(16).toString("hex"), password: `Device-${randomBytes(6).toString("hex")}` };
  const res = await http(base, "POST", "/api/v1/monitors/add", {
    json: { token: adminToken, user_id: ownerId, monitor_id: monitor.id, password: monitor.password },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return monitor;
}

const connectDevice = (m: { id: string; password: string }) =>
  connect({
    servers: stack.natsUrl,
    user: m.id,
    pass: m.password,
    inboxPrefix: deviceSubjects.inboxPrefix(m.id),
    maxReconnectAttempts: 0,
  });

/** Resolves with the first async error the connection reports (e.g. a permissions violation). */
function nextError(nc: NatsConnection, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "error") {
          clearTimeout(timer);
          resolve(String((s as { error?: Error }).error?.message ?? s.type));
          return;
        }
      }
    })();
  });
}

async function storedCount(monitorId: string): Promise<number> {
  const res = await http(base, "GET", `/api/v2/monitors/${monitorId}`, { bearer: adminToken });
  return res.body.readingsStored as number;
}

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth", "telemetry"] });
  base = platform.base;
  const login = await http(base, "POST", "/api/v1/login/user", { json: ADMIN });
  adminToken = login.body.data.token;
  const owner = await http(base, "POST", "/api/v2/auth/register", {
    json: { username: `grower-${platform.suffix}`, password: `Grower-${randomBytes(6).toString("hex")}` },
  });
  ownerId = owner.body.id;
});

afterAll(async () => {
  await platform?.stop();
});

describe("devices on NATS", () => {
  it("a monitor connects with its own credentials and its readings are stored", async () => {
    const m = await addMonitor();
    const nc = await connectDevice(m);
    const js = jetstream(nc);
    const ack = await js.publish(deviceSubjects.readings(m.id), JSON.stringify({ ph: 6.2, reservoir_temp: 19.5 }), {
      msgID: `r-${m.id}-1`,
    });
    expect(ack.seq).toBeGreaterThan(0);
    const { value } = await within(
      5_000,
      () => storedCount(m.id),
      (n) => n === 1,
    );
    expect(value).toBe(1);
    const latest = await http(base, "GET", `/api/v2/monitors/${m.id}/readings/latest`, { bearer: adminToken });
    expect(latest.body.values.ph.value).toBe(6.2);
    await nc.close();
  });

  it("a wrong password or an unknown monitor cannot connect", async () => {
    const m = await addMonitor();
    await expect(connectDevice({ id: m.id, password: "Wrong-password-99" })).rejects.toThrow(/Authorization/i);
    await expect(connectDevice({ id: randomBytes(16).toString("hex"), password: m.password })).rejects.toThrow(
      /Authorization/i,
    );
    await expect(connectDevice({ id: "not-a-monitor", password: "x" })).rejects.toThrow(/Authorization/i);
  });

  it("the server refuses a publish to another monitor's subject and a subscription to its commands", async () => {
    const mine = await addMonitor();
    const theirs = await addMonitor();
    const nc = await connectDevice(mine);
    const violation = nextError(nc, 3_000);
    nc.publish(deviceSubjects.readings(theirs.id), JSON.stringify({ ph: 1 }));
    await nc.flush();
    expect(await violation).toMatch(/Permissions Violation for Publish/i);
    expect(await storedCount(theirs.id)).toBe(0);

    const nc2 = await connectDevice(mine);
    const subViolation = nextError(nc2, 3_000);
    nc2.subscribe(deviceSubjects.commands(theirs.id));
    await nc2.flush().catch(() => {});
    expect(await subViolation).toMatch(/Permissions Violation for Subscription/i);
    // Nor can it reach a service subject (and forge an `actor`).
    const nc3 = await connectDevice(mine);
    await expect(nc3.request("auth.v1.users.list", "{}", { timeout: 1_000 })).rejects.toThrow();
    await Promise.all([nc.close(), nc2.close(), nc3.close()].map((p) => p.catch(() => {})));
  });

  it("a deleted monitor cannot connect again", async () => {
    const m = await addMonitor();
    const nc = await connectDevice(m);
    await nc.close();
    const del = await http(base, "POST", "/api/v1/monitors/delete", { json: { token: adminToken, monitor_id: m.id } });
    expect(del.status).toBe(200);
    await expect(connectDevice(m)).rejects.toThrow(/Authorization/i);
  });
});
