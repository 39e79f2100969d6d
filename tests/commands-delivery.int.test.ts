/**
 * Persistent commands with two telemetry instances: delivered once each, as soon as the device is
 * seen publishing a reading (the periodic retry is set to 10 minutes here, so only that can
 * deliver them), and still delivered after every telemetry instance was restarted (the state is
 * in the database).
 */
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { type ServiceProcess, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMonitor, connectDevice, type DeviceCredentials, simulatorLikeDevice } from "./support/devices.ts";
import { ADMIN, http, type Platform, registerUser, startPlatform, within } from "./support/platform.ts";

const stack = useFileStack();
const RETRY = { COMMAND_RETRY_INTERVAL_MS: "600000" };
let platform: Platform;
let base: string;
let admin: string;
let owner: { id: string; bearer: string };
/** The telemetry instances running now. */
let telemetry: ServiceProcess[] = [];
const open: NatsConnection[] = [];

const startTelemetry = (i: number) =>
  startService("telemetry", platform.env("telemetry", { ...RETRY, INSTANCE_ID: `telemetry-${platform.suffix}-${i}` }));

const post = (monitorId: string, body: unknown) =>
  http(base, "POST", `/api/v2/monitors/${monitorId}/commands`, { bearer: owner.bearer, json: body });
const get = async (id: string) => (await http(base, "GET", `/api/v2/commands/${id}`, { bearer: owner.bearer })).body;

async function publishReading(nc: NatsConnection, m: DeviceCredentials) {
  await jetstream(nc).publish(deviceSubjects.readings(m.id), JSON.stringify({ ph: 6.3 }));
}

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth"] });
  base = platform.base;
  telemetry = await Promise.all([startTelemetry(1), startTelemetry(2)]);
  const token = await http(base, "POST", "/api/v2/auth/token", {
    form: { grant_type: "password", username: ADMIN.username, password: ADMIN.password },
  });
  admin = token.body.access_token;
  owner = await registerUser(base, platform.suffix, "grower");
});

afterAll(async () => {
  await Promise.all(open.map((nc) => nc.close().catch(() => {})));
  await Promise.all(telemetry.map((p) => p.stop()));
  await platform?.stop();
});

describe("persistent commands, two telemetry instances", () => {
  it("each command is delivered exactly once, in order, when the device is seen publishing", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const ids: string[] = [];
    // Requests go to either instance (queue group): both end up waiting for this device.
    for (let i = 0; i < 8; i++) {
      const res = await post(m.id, { name: "calibrate_ph", params: { n: i }, persistent: true });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.body.state).toBe("pending");
      ids.push(res.body.id);
    }
    const nc = await connectDevice(stack.natsUrl, m);
    open.push(nc);
    const sim = simulatorLikeDevice(nc, m.id);
    await nc.flush();
    // Both instances hear this reading and race to deliver.
    await Promise.all([publishReading(nc, m), publishReading(nc, m)]);
    const { value } = await within(
      10_000,
      async () => Promise.all(ids.map(get)),
      (cs) => cs.every((c) => c.state === "succeeded"),
    );
    expect(value.map((c) => c.state)).toEqual(ids.map(() => "succeeded"));
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive by now
    expect(sim.received.map((c) => c.id).sort()).toEqual([...ids].sort());
    // In the order sent (whichever instance delivered each).
    expect(sim.received.map((c) => c.params.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("survives a restart of every telemetry instance: delivered by the new one", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const res = await post(m.id, { name: "set_interval", params: { interval_ms: 5_000 }, persistent: true });
    expect(res.body.state).toBe("pending");
    await Promise.all(telemetry.map((p) => p.stop()));
    telemetry = [await startTelemetry(3)];

    const nc = await connectDevice(stack.natsUrl, m);
    open.push(nc);
    const sim = simulatorLikeDevice(nc, m.id);
    await nc.flush();
    await publishReading(nc, m);
    const { value } = await within(
      10_000,
      () => get(res.body.id),
      (c) => c.state === "succeeded",
    );
    expect(value).toMatchObject({ state: "succeeded", result: { interval_ms: 5_000 } });
    expect(sim.received.map((c) => c.id)).toEqual([res.body.id]);
    expect(sim.settings.intervalMs).toBe(5_000);
  });
});
