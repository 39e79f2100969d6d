/**
 * Threshold alarms end to end, through the real gateway, auth and TWO telemetry instances: rules,
 * raising after `for_seconds`, no alarm from a spike, clearing with hysteresis, acknowledging,
 * exactly one alarm when both instances ingest the same monitor at once, the alarm events on NATS
 * (events stream and live subject), and the signed webhook (a local HTTP server) retried after a 500.
 */
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { alarmEvents, liveSubjects, WEBHOOK_EVENT_ID_HEADER, WEBHOOK_SIGNATURE_HEADER } from "@trellis/contracts";
import { startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, loginBoth, type Platform, registerUser, startPlatform, within } from "./support/platform.ts";

const stack = useFileStack();
const hex = (bytes = 16) => randomBytes(bytes).toString("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Received {
  body: string;
  headers: Record<string, string | string[] | undefined>;
  status: number;
}

let platform: Platform;
let base: string;
let adminBearer: string;
let owner: { id: string; bearer: string };
let other: { id: string; bearer: string };
let nc: NatsConnection;
let hookServer: Server;
let hookUrl: string;
const received: Received[] = [];
/** Answer 500 to the first delivery of each event id, 200 afterwards. */
const failedOnce = new Set<string>();
let hookSecret: string;
const natsEvents: { subject: string; data: Record<string, unknown> }[] = [];

async function addMonitor(ownerId: string): Promise<string> {
  const id = hex();
  const res = await http(base, "POST", "/api/v2/monitors", {
    bearer: adminBearer,
    json: { id, owner_id: ownerId, password: `Mon-${hex(6)}` },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return id;
}

/** Submits readings one by one as the admin; each 200 means its ingest round (and alarm evaluation) is done. */
async function submit(monitorId: string, readings: Record<string, number>[]): Promise<void> {
  for (const r of readings) {
    const res = await http(base, "POST", `/api/v2/monitors/${monitorId}/readings`, { bearer: adminBearer, json: r });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
}

async function addRule(monitorId: string, rule: Record<string, unknown>, bearer = owner.bearer) {
  const res = await http(base, "POST", `/api/v2/monitors/${monitorId}/alarm-rules`, { bearer, json: rule });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string };
}

async function alarmsOf(monitorId: string, bearer = owner.bearer) {
  const res = await http(base, "GET", `/api/v2/alarms?monitor_id=${monitorId}`, { bearer });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  // biome-ignore lint/suspicious/noExplicitAny: asserted field by field
  return res.body.items as any[];
}

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth", "telemetry"],
    extraEnv: { ALLOW_PRIVATE_EGRESS: "true", WEBHOOK_RETRY_MS: "300", WEBHOOK_MAX_RETRY_MS: "2000" },
  });
  platform.procs.push(
    await startService("telemetry", platform.env("telemetry", { INSTANCE_ID: `telemetry-${platform.suffix}-2` })),
  );
  base = platform.base;
  adminBearer = (await loginBoth(base, ADMIN.username, ADMIN.password)).bearer;
  owner = await registerUser(base, platform.suffix, "grower");
  other = await registerUser(base, platform.suffix, "neighbour");

  hookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const id = String(req.headers[WEBHOOK_EVENT_ID_HEADER.toLowerCase()]);
      const status = failedOnce.has(id) ? 200 : 500;
      failedOnce.add(id);
      received.push({ body: Buffer.concat(chunks).toString("utf8"), headers: req.headers, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, "127.0.0.1", resolve));
  hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hooks/trellis`;

  // The owner's webhook (the webhooks test sets it again and checks the answers).
  const put = await http(base, "PUT", `/api/v2/users/${owner.id}/webhook`, {
    bearer: owner.bearer,
    json: { url: hookUrl },
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  hookSecret = put.body.secret;

  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  for (const subject of [alarmEvents.raised.subject, alarmEvents.cleared.subject, "telemetry.v1.live.*.alarm"]) {
    nc.subscribe(subject, {
      callback: (_err, msg) => {
        natsEvents.push({ subject: msg.subject, data: msg.json() });
      },
    });
  }
  await nc.flush();
}, 90_000);

afterAll(async () => {
  await nc?.close();
  await new Promise((resolve) => hookServer?.close(resolve));
  await platform?.stop();
});

describe("webhooks", () => {
  it("self sets a webhook and gets a generated secret once; GET hides it; others are refused; bad URLs are 400", async () => {
    const put = await http(base, "PUT", `/api/v2/users/${owner.id}/webhook`, {
      bearer: owner.bearer,
      json: { url: hookUrl },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.url).toBe(hookUrl);
    expect(put.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    hookSecret = put.body.secret;

    const got = await http(base, "GET", `/api/v2/users/${owner.id}/webhook`, { bearer: owner.bearer });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ user_id: owner.id, url: hookUrl });
    expect(got.body.secret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(hookSecret);

    // Another user may neither read nor replace it; an admin may read it.
    expect((await http(base, "GET", `/api/v2/users/${owner.id}/webhook`, { bearer: other.bearer })).status).toBe(403);
    const hijack = await http(base, "PUT", `/api/v2/users/${owner.id}/webhook`, {
      bearer: other.bearer,
      json: { url: "https://evil.example/x" },
    });
    expect(hijack.status).toBe(403);
    expect((await http(base, "GET", `/api/v2/users/${owner.id}/webhook`, { bearer: adminBearer })).status).toBe(200);

    for (const body of [{ url: "ftp://example.com/x" }, { url: "not a url" }, { url: hookUrl, secret: "short" }, {}]) {
      const bad = await http(base, "PUT", `/api/v2/users/${other.id}/webhook`, { bearer: other.bearer, json: body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
    }
    // A user without a webhook: 404 on GET and DELETE.
    expect((await http(base, "GET", `/api/v2/users/${other.id}/webhook`, { bearer: other.bearer })).status).toBe(404);
    expect((await http(base, "DELETE", `/api/v2/users/${other.id}/webhook`, { bearer: other.bearer })).status).toBe(
      404,
    );
    // The owner's webhook is untouched by all of that.
    expect((await http(base, "GET", `/api/v2/users/${owner.id}/webhook`, { bearer: owner.bearer })).body.url).toBe(
      hookUrl,
    );
  });
});

describe("alarm rules", () => {
  it("invalid rules are 400 and store nothing; another user's monitor, rule or alarm is 404", async () => {
    const monitorId = await addMonitor(owner.id);
    const invalid = [
      { measurement: "ph", condition: "above" },
      { measurement: "ph", condition: "above", threshold: { low: 1, high: 2 } },
      { measurement: "ph", condition: "outside", threshold: 7 },
      { measurement: "ph", condition: "outside", threshold: { low: 8, high: 6 } },
      { measurement: "ph", condition: "outside", threshold: { low: 6, high: 7 }, hysteresis: 0.6 },
      { measurement: "humidity", condition: "above", threshold: 1 },
      { measurement: "ph", condition: "sideways", threshold: 1 },
      { measurement: "ph", condition: "above", threshold: 7, for_seconds: -1 },
      { measurement: "ph", condition: "above", threshold: 7, for_seconds: 1.5 },
      { measurement: "ph", condition: "above", threshold: 7, hysteresis: -0.1 },
      { measurement: "ph", condition: "above", threshold: 7, extra: true },
      { measurement: "ph", condition: "above", threshold: "7" },
    ];
    for (const rule of invalid) {
      const res = await http(base, "POST", `/api/v2/monitors/${monitorId}/alarm-rules`, {
        bearer: owner.bearer,
        json: rule,
      });
      expect(res.status, JSON.stringify(rule)).toBe(400);
      expect(res.body.error.code).toBe("invalid_argument");
    }
    const listed = await http(base, "GET", `/api/v2/monitors/${monitorId}/alarm-rules`, { bearer: owner.bearer });
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([]);

    const rule = await addRule(monitorId, {
      measurement: "ph",
      condition: "outside",
      threshold: { low: 5.5, high: 6.5 },
      for_seconds: 30,
      hysteresis: 0.1,
    });
    const mine = await http(base, "GET", `/api/v2/monitors/${monitorId}/alarm-rules`, { bearer: owner.bearer });
    expect(mine.body.items).toEqual([
      expect.objectContaining({
        id: rule.id,
        monitor_id: monitorId,
        condition: "outside",
        threshold: { low: 5.5, high: 6.5 },
        for_seconds: 30,
        hysteresis: 0.1,
      }),
    ]);

    // Someone else's monitor looks like no monitor; so do their rules.
    for (const [method, path] of [
      ["GET", `/api/v2/monitors/${monitorId}/alarm-rules`],
      ["POST", `/api/v2/monitors/${monitorId}/alarm-rules`],
      ["DELETE", `/api/v2/alarm-rules/${rule.id}`],
      ["GET", `/api/v2/monitors/${hex()}/alarm-rules`],
    ] as const) {
      const res = await http(base, method, path, {
        bearer: other.bearer,
        ...(method === "POST" ? { json: { measurement: "ph", condition: "above", threshold: 1 } } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    // The admin sees them; the rule survived the attempts.
    const asAdmin = await http(base, "GET", `/api/v2/monitors/${monitorId}/alarm-rules`, { bearer: adminBearer });
    expect(asAdmin.body.items).toHaveLength(1);

    expect((await http(base, "DELETE", `/api/v2/alarm-rules/${rule.id}`, { bearer: owner.bearer })).status).toBe(204);
    expect((await http(base, "DELETE", `/api/v2/alarm-rules/${rule.id}`, { bearer: owner.bearer })).status).toBe(404);
    expect(
      (await http(base, "GET", `/api/v2/monitors/${monitorId}/alarm-rules`, { bearer: owner.bearer })).body.items,
    ).toEqual([]);
    expect((await http(base, "GET", "/api/v2/alarms?state=burning", { bearer: owner.bearer })).status).toBe(400);
  });
});

describe("deleting a monitor", () => {
  it("removes its rules and alarms with it", async () => {
    const monitorId = await addMonitor(owner.id);
    await addRule(monitorId, { measurement: "air_flow", condition: "below", threshold: 1 });
    await submit(monitorId, [{ air_flow: 0.2, timestamp: Date.now() - 1_000 }]);
    await within(
      10_000,
      () => alarmsOf(monitorId),
      (a) => a.length === 1,
    );
    const del = await http(base, "DELETE", `/api/v2/monitors/${monitorId}`, { bearer: adminBearer });
    expect(del.status).toBe(204);
    expect(await alarmsOf(monitorId, adminBearer)).toEqual([]);
    const rules = await http(base, "GET", `/api/v2/monitors/${monitorId}/alarm-rules`, { bearer: adminBearer });
    expect(rules.status).toBe(404);
  });
});

describe("alarm life cycle", () => {
  it("raised after for_seconds out of range, not by a spike, kept open while hovering on the line, acknowledged, cleared with hysteresis; events on NATS and a signed webhook retried after a 500", async () => {
    const monitorId = await addMonitor(owner.id);
    const rule = await addRule(monitorId, {
      measurement: "ph",
      condition: "above",
      threshold: 7,
      for_seconds: 10,
      hysteresis: 0.5,
    });
    const t0 = Date.now() - 600_000;
    const at = (sec: number) => t0 + sec * 1_000;

    // A one-off spike, then a breach shorter than for_seconds: nothing.
    await submit(monitorId, [
      { ph: 6.5, timestamp: at(0) },
      { ph: 9.5, timestamp: at(1) },
      { ph: 6.5, timestamp: at(2) },
      { ph: 7.5, timestamp: at(3) },
      { ph: 7.6, timestamp: at(8) },
      { ph: 6.9, timestamp: at(12) },
    ]);
    // Then out of range from 20 s on: at 29 s it has been 9 s, at 30 s for_seconds is reached.
    await submit(monitorId, [
      { ph: 7.2, timestamp: at(20) },
      { ph: 7.4, timestamp: at(25) },
      { ph: 7.5, timestamp: at(29) },
    ]);
    await sleep(500);
    expect(await alarmsOf(monitorId)).toEqual([]);

    await submit(monitorId, [{ ph: 7.8, timestamp: at(30) }]);
    const { value: raised } = await within(
      10_000,
      () => alarmsOf(monitorId),
      (a) => a.length === 1,
    );
    expect(raised[0]).toMatchObject({
      id: `${rule.id}-1`,
      rule_id: rule.id,
      monitor_id: monitorId,
      owner_id: owner.id,
      measurement: "ph",
      condition: "above",
      threshold: 7,
      state: "active",
      value: 7.8,
      breach_started_at: new Date(at(20)).toISOString(),
      raised_at: new Date(at(30)).toISOString(),
      acknowledged_at: null,
      cleared_at: null,
    });

    // Hovering on the line (inside, but not by more than the hysteresis) keeps the alarm open: no flap.
    await submit(monitorId, [
      { ph: 6.9, timestamp: at(31) },
      { ph: 7.1, timestamp: at(32) },
      { ph: 6.6, timestamp: at(33) },
      { ph: 7.05, timestamp: at(34) },
      { ph: 6.5, timestamp: at(35) },
    ]);
    await sleep(500);
    const alarms = await alarmsOf(monitorId);
    expect(alarms).toHaveLength(1);
    expect(alarms[0].state).toBe("active");

    // Another user cannot acknowledge it (404, as if it did not exist); the owner can, twice.
    expect((await http(base, "POST", `/api/v2/alarms/${raised[0].id}/ack`, { bearer: other.bearer })).status).toBe(404);
    expect(await alarmsOf(monitorId, other.bearer)).toEqual([]);
    const ack = await http(base, "POST", `/api/v2/alarms/${raised[0].id}/ack`, { bearer: owner.bearer });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    expect(ack.body).toMatchObject({ state: "acknowledged", acknowledged_by: owner.id });
    const again = await http(base, "POST", `/api/v2/alarms/${raised[0].id}/ack`, { bearer: owner.bearer });
    expect(again.body.acknowledged_at).toBe(ack.body.acknowledged_at);
    const byState = await http(base, "GET", "/api/v2/alarms?state=acknowledged", { bearer: owner.bearer });
    expect(byState.body.items.map((a: { id: string }) => a.id)).toContain(raised[0].id);
    expect((await http(base, "GET", "/api/v2/alarms?state=active", { bearer: owner.bearer })).body.items).toEqual([]);

    // Back inside by more than the hysteresis: cleared, with the clearing value, the ack kept.
    await submit(monitorId, [{ ph: 6.4, timestamp: at(36) }]);
    const { value: cleared } = await within(
      10_000,
      () => alarmsOf(monitorId),
      (a) => a[0]?.state === "cleared",
    );
    expect(cleared).toHaveLength(1);
    expect(cleared[0]).toMatchObject({
      state: "cleared",
      cleared_value: 6.4,
      cleared_at: new Date(at(36)).toISOString(),
      acknowledged_at: ack.body.acknowledged_at,
    });
    const ackCleared = await http(base, "POST", `/api/v2/alarms/${raised[0].id}/ack`, { bearer: owner.bearer });
    expect(ackCleared.status).toBe(409);
    // The admin sees every user's alarms.
    const adminView = await http(base, "GET", `/api/v2/alarms?monitor_id=${monitorId}`, { bearer: adminBearer });
    expect(adminView.body.items).toHaveLength(1);

    // Events on NATS: the durable events and the live subject, one per transition.
    const alarmId = raised[0].id;
    await within(
      5_000,
      async () => natsEvents.filter((e) => (e.data.alarm as { id: string }).id === alarmId),
      (e) => e.length >= 4,
    );
    const mine = natsEvents.filter((e) => (e.data.alarm as { id: string }).id === alarmId);
    expect(mine.filter((e) => e.subject === liveSubjects.of(monitorId, "alarm")).map((e) => e.data.type)).toEqual([
      "alarm.raised",
      "alarm.acknowledged",
      "alarm.cleared",
    ]);
    expect(mine.filter((e) => e.subject === alarmEvents.raised.subject)).toHaveLength(1);
    expect(mine.filter((e) => e.subject === alarmEvents.cleared.subject)).toHaveLength(1);

    // The webhook: each transition delivered, the first attempt answered 500 and retried; every
    // attempt signed over "<t>.<raw body>" with the secret, with the same event id on the retry.
    const ids = [`${alarmId}:raised`, `${alarmId}:acknowledged`, `${alarmId}:cleared`];
    await within(
      20_000,
      async () => received.filter((r) => ids.includes(String(r.headers[WEBHOOK_EVENT_ID_HEADER.toLowerCase()]))),
      (rs) => ids.every((id) => rs.some((r) => r.status === 200 && r.headers["trellis-event-id"] === id)),
    );
    for (const id of ids) {
      const attempts = received.filter((r) => r.headers["trellis-event-id"] === id);
      expect(
        attempts.map((r) => r.status),
        id,
      ).toEqual([500, 200]);
      for (const a of attempts) {
        const header = String(a.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()]);
        const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
        expect(m, header).not.toBeNull();
        const expected = createHmac("sha256", hookSecret).update(`${m?.[1]}.${a.body}`).digest("hex");
        expect(m?.[2]).toBe(expected);
        expect(Math.abs(Number(m?.[1]) - Date.now() / 1000)).toBeLessThan(120);
        const event = JSON.parse(a.body);
        expect(event.id).toBe(id);
        expect(event.alarm.id).toBe(alarmId);
      }
    }
    const raisedBody = JSON.parse(received.find((r) => r.headers["trellis-event-id"] === ids[0])?.body ?? "{}");
    expect(raisedBody).toMatchObject({ type: "alarm.raised", alarm: { state: "active", value: 7.8 } });
  }, 120_000);

  it("exactly one alarm when both telemetry instances ingest the same monitor's readings at once", async () => {
    const monitorId = await addMonitor(owner.id);
    const rule = await addRule(monitorId, {
      measurement: "reservoir_temp",
      condition: "below",
      threshold: 18,
      for_seconds: 5,
      hysteresis: 1,
    });
    const t0 = Date.now() - 300_000;
    // 400 readings 100 ms apart, all too cold, sent by 40 clients at once: rounds on both
    // instances hold readings of this monitor at the same moment.
    const readings = Array.from({ length: 400 }, (_, i) => ({
      reservoir_temp: 15 + (i % 7) / 10,
      timestamp: t0 + i * 100,
    }));
    let next = 0;
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        for (let i = next++; i < readings.length; i = next++) {
          const r = readings[i];
          if (r) await submit(monitorId, [r]);
        }
      }),
    );
    const telemetries = platform.procs.filter((p) => p.name === "telemetry");
    expect(telemetries).toHaveLength(2);
    for (const t of telemetries) expect(t.logs.some((l) => l.msg === "readings round written")).toBe(true);
    await sleep(1_500);
    const alarms = await alarmsOf(monitorId);
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ id: `${rule.id}-1`, state: "active" });
    // And it was announced once: one raised event (JetStream dedupes on the event id), one webhook success.
    const raisedEvents = natsEvents.filter(
      (e) => e.subject === alarmEvents.raised.subject && (e.data.alarm as { id: string }).id === alarms[0].id,
    );
    expect(raisedEvents).toHaveLength(1);
    await within(
      20_000,
      async () =>
        received.filter((r) => r.headers["trellis-event-id"] === `${alarms[0].id}:raised` && r.status === 200),
      (rs) => rs.length >= 1,
    );
    await sleep(1_000);
    expect(
      received.filter((r) => r.headers["trellis-event-id"] === `${alarms[0].id}:raised` && r.status === 200),
    ).toHaveLength(1);
    // Back to warm (above 18 + 1): cleared once.
    await submit(monitorId, [{ reservoir_temp: 19.5, timestamp: t0 + 60_000 }]);
    await within(
      10_000,
      () => alarmsOf(monitorId),
      (a) => a[0]?.state === "cleared",
    );
    expect(await alarmsOf(monitorId)).toHaveLength(1);
  }, 120_000);
});
