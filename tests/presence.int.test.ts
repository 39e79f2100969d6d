/**
 * Offline detection through the real gateway, auth and two telemetry instances: a monitor goes
 * `online` with its first reading, `offline` once its inactivity timeout passes without one, and
 * `online` again with the next; each transition is one `monitor_online` / `monitor_offline`
 * event on NATS (and one on the live subject) although both instances ingest and sweep. A
 * per-monitor timeout (`PATCH /api/v2/monitors/{id}`) overrides the global one.
 */
import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type AlarmEvent, alarmEvents, type PresenceChange, presenceEvents } from "@trellis/contracts";
import { startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN,
  createMonitor,
  http,
  loginBoth,
  type Platform,
  registerWithTokens,
  startPlatform,
  type Tokens,
  within,
} from "./support/platform.ts";

const stack = useFileStack();
const hex = (bytes = 16) => randomBytes(bytes).toString("hex");
/** The global timeout of this file's telemetry instances. */
const OFFLINE_AFTER_S = 2;

let platform: Platform;
let base: string;
let admin: Tokens;
let owner: Tokens & { id: string };
let other: Tokens & { id: string };
let nc: NatsConnection;
/** Every presence event received on core NATS, and every message on the live presence subjects. */
const events: { subject: string; change: PresenceChange }[] = [];
const live: { subject: string; change: PresenceChange }[] = [];

const register = (prefix: string) => registerWithTokens(base, platform.suffix, prefix);

/** A reading through the same ingest devices use; the 200 means it is stored. */
async function report(monitor: { id: string; token: string }, ph = 6.5) {
  const res = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
    bearer: monitor.token,
    json: { ph },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

const eventsOf = (monitorId: string, state?: "online" | "offline") =>
  events.filter((e) => e.change.monitorId === monitorId && (state === undefined || e.change.state === state));
const liveOf = (monitorId: string) => live.filter((e) => e.change.monitorId === monitorId);
const getMonitor = (id: string, bearer = owner.bearer) => http(base, "GET", `/api/v2/monitors/${id}`, { bearer });
/** Waits for the `n`th event of a kind (failing with what came when it does not): how long it took. */
async function waitForEvents(monitorId: string, state: "online" | "offline", n: number, ms: number) {
  const { value, elapsedMs } = await within(
    ms,
    async () => eventsOf(monitorId, state).length,
    (count) => count >= n,
  );
  expect(value, `${state} events of ${monitorId}`).toBe(n);
  return elapsedMs;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const extraEnv = { OFFLINE_AFTER_SECONDS: String(OFFLINE_AFTER_S), PRESENCE_SWEEP_INTERVAL_MS: "200" };
  platform = await startPlatform({ stack, services: ["auth", "telemetry"], extraEnv });
  platform.procs.push(
    await startService("telemetry", platform.env("telemetry", { INSTANCE_ID: `telemetry-${platform.suffix}-2` })),
  );
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  const collect = (subject: string, into: typeof events, only?: RegExp) => {
    const sub = nc.subscribe(subject);
    void (async () => {
      for await (const m of sub) {
        if (!only || only.test(m.subject)) into.push({ subject: m.subject, change: m.json<PresenceChange>() });
      }
    })();
  };
  collect("telemetry.v1.events.>", events, /\.monitor_(online|offline)$/);
  collect("telemetry.v1.live.*.presence", live);
  await nc.flush();
  admin = await loginBoth(base, ADMIN.username, ADMIN.password);
  [owner, other] = await Promise.all([register("presence-owner"), register("presence-other")]);
}, 60_000);

afterAll(async () => {
  await nc?.drain();
  await platform?.stop();
});

describe("offline detection with two telemetry instances", () => {
  it("online with the first reading, offline after the timeout, online again with the next; one event each", async () => {
    const monitor = await createMonitor(base, admin.bearer, owner.id);
    const fresh = await getMonitor(monitor.id);
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ online: false, lastSeen: null, offlineAfterSeconds: null });

    const before = Date.now();
    await report(monitor);
    await waitForEvents(monitor.id, "online", 1, 10_000);
    const seen = await getMonitor(monitor.id);
    expect(seen.body.online).toBe(true);
    const lastSeen = Date.parse(seen.body.lastSeen);
    expect(lastSeen).toBeGreaterThanOrEqual(before - 1_000);
    expect(lastSeen).toBeLessThanOrEqual(Date.now());

    // Silent past the timeout: offline, announced once although both instances sweep every 200 ms.
    await waitForEvents(monitor.id, "offline", 1, OFFLINE_AFTER_S * 1_000 + 10_000);
    await sleep(1_500);
    expect(eventsOf(monitor.id, "offline")).toHaveLength(1);
    expect(eventsOf(monitor.id, "online")).toHaveLength(1);
    const offline = eventsOf(monitor.id, "offline")[0]?.change;
    expect(presenceEvents.monitorOffline.schema.parse(offline)).toMatchObject({
      monitorId: monitor.id,
      ownerId: owner.id,
      state: "offline",
      lastSeen,
      offlineAfterSeconds: OFFLINE_AFTER_S,
    });
    // Not before the timeout: claimed at least OFFLINE_AFTER_S after the last reading.
    expect(Date.parse(offline?.at ?? "")).toBeGreaterThanOrEqual(lastSeen + OFFLINE_AFTER_S * 1_000);
    expect((await getMonitor(monitor.id)).body).toMatchObject({ online: false, lastSeen: seen.body.lastSeen });
    const list = await http(base, "GET", "/api/v2/monitors", { bearer: owner.bearer });
    expect(list.body.items.find((m: { id: string }) => m.id === monitor.id)).toMatchObject({ online: false });

    // The next reading: online again, once.
    await report(monitor, 6.8);
    await waitForEvents(monitor.id, "online", 2, 10_000);
    await sleep(600);
    expect(eventsOf(monitor.id, "online")).toHaveLength(2);
    expect(eventsOf(monitor.id, "offline")).toHaveLength(1);
    expect((await getMonitor(monitor.id)).body.online).toBe(true);

    // The same transitions on the live subject, in order (each published right after its event).
    await within(
      5_000,
      async () => liveOf(monitor.id).length,
      (n) => n >= 3,
    );
    expect(liveOf(monitor.id).map((e) => [e.subject, e.change.state])).toEqual([
      [`telemetry.v1.live.${monitor.id}.presence`, "online"],
      [`telemetry.v1.live.${monitor.id}.presence`, "offline"],
      [`telemetry.v1.live.${monitor.id}.presence`, "online"],
    ]);
  }, 45_000);

  it("a per-monitor timeout overrides the global one; only the owner or an admin may set it", async () => {
    const [globalOne, patient] = await Promise.all([
      createMonitor(base, admin.bearer, owner.id),
      createMonitor(base, admin.bearer, owner.id),
    ]);
    const patch = (id: string, json: unknown, bearer = owner.bearer) =>
      http(base, "PATCH", `/api/v2/monitors/${id}`, { bearer, json });

    const set = await patch(patient.id, { offline_after_seconds: 10 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ id: patient.id, offlineAfterSeconds: 10, readingsRetentionDays: null });

    // Refused without changing anything: another user's monitor, bad values, unknown fields.
    expect((await patch(patient.id, { offline_after_seconds: 20 }, other.bearer)).status).toBe(404);
    for (const bad of [
      { offline_after_seconds: 5 },
      { offline_after_seconds: "ten" },
      { offline: 3 },
      { readings_retention_days: 0 },
      { readings_retention_days: 1.5 },
    ]) {
      const res = await patch(patient.id, bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe("invalid_argument");
    }
    expect((await patch(hex(), { offline_after_seconds: 20 }, admin.bearer)).status).toBe(404);
    expect((await getMonitor(patient.id)).body.offlineAfterSeconds).toBe(10);

    // Telemetry creates the live stream: presence goes to JetStream, stored and replayable, and
    // still reaches core subscribers.
    const jsm = await jetstreamManager(nc);

    await Promise.all([report(globalOne), report(patient)]);
    await Promise.all([
      waitForEvents(globalOne.id, "online", 1, 10_000),
      waitForEvents(patient.id, "online", 1, 10_000),
    ]);
    // The global 2 s pass: the first goes offline, the patient one stays online.
    await waitForEvents(globalOne.id, "offline", 1, OFFLINE_AFTER_S * 1_000 + 10_000);
    await sleep(1_500);
    expect(eventsOf(patient.id, "offline")).toHaveLength(0);
    expect((await getMonitor(patient.id)).body.online).toBe(true);
    // ... until its own 10 s pass.
    await waitForEvents(patient.id, "offline", 1, 15_000);
    expect(eventsOf(patient.id, "offline")[0]?.change.offlineAfterSeconds).toBe(10);
    // Stored in the live stream (right after the event is published).
    const lastLive = () =>
      jsm.streams
        .getMessage("TELEMETRY_LIVE", { last_by_subj: `telemetry.v1.live.${patient.id}.presence` })
        .then((m) => m?.json<PresenceChange>());
    const stored = await within(5_000, lastLive, (c) => c?.state === "offline");
    expect(stored.value).toMatchObject({ monitorId: patient.id, state: "offline" });

    // A longer timeout applies at once: its last reading is within an hour, so it is online again.
    const longer = await patch(patient.id, { offline_after_seconds: 3_600 });
    expect(longer.status).toBe(200);
    await waitForEvents(patient.id, "online", 2, 10_000);
    expect((await getMonitor(patient.id)).body.online).toBe(true);
    // null goes back to the global default (2 s, long passed): offline again.
    const cleared = await patch(patient.id, { offline_after_seconds: null }, admin.bearer);
    expect(cleared.status).toBe(200);
    expect(cleared.body.offlineAfterSeconds).toBeNull();
    await waitForEvents(patient.id, "offline", 2, 10_000);
    expect(eventsOf(patient.id, "offline")[1]?.change.offlineAfterSeconds).toBe(OFFLINE_AFTER_S);
    // The live copy follows each event (published right after it).
    const liveStates = await within(
      5_000,
      async () => liveOf(patient.id).map((e) => e.change.state),
      (s) => s.length >= 4,
    );
    expect(liveStates.value).toEqual(["online", "offline", "online", "offline"]);
  }, 60_000);

  it("going offline raises one offline alarm (event, webhook-ready), acknowledged, cleared by the next reading", async () => {
    const monitor = await createMonitor(base, admin.bearer, owner.id);
    const raisedEvents: AlarmEvent[] = [];
    const sub = nc.subscribe(alarmEvents.raised.subject, {
      callback: (_err, m) => {
        const e = m.json<AlarmEvent>();
        if (e.alarm.monitor_id === monitor.id) raisedEvents.push(e);
      },
    });
    const alarmsOf = async (state: string) => {
      const res = await http(base, "GET", `/api/v2/alarms?state=${state}`, { bearer: owner.bearer });
      expect(res.status).toBe(200);
      return (res.body.items as { id: string; monitor_id: string }[]).filter((a) => a.monitor_id === monitor.id);
    };
    await report(monitor);
    await waitForEvents(monitor.id, "online", 1, 10_000);
    expect(await alarmsOf("active")).toEqual([]); // coming online raises nothing

    await waitForEvents(monitor.id, "offline", 1, OFFLINE_AFTER_S * 1_000 + 10_000);
    const { value: active } = await within(
      5_000,
      () => alarmsOf("active"),
      (a) => a.length > 0,
    );
    await sleep(1_000); // both instances sweep every 200 ms: still one
    expect(await alarmsOf("active")).toHaveLength(1);
    expect(raisedEvents).toHaveLength(1);
    expect(active[0]).toMatchObject({
      kind: "offline",
      rule_id: null,
      measurement: null,
      monitor_id: monitor.id,
      owner_id: owner.id,
      state: "active",
    });
    expect((active[0] as unknown as { value: number }).value).toBeGreaterThanOrEqual(OFFLINE_AFTER_S);
    expect(raisedEvents[0]?.alarm.id).toBe(active[0]?.id);

    // Another user cannot see or acknowledge it; the owner can.
    expect((await http(base, "POST", `/api/v2/alarms/${active[0]?.id}/ack`, { bearer: other.bearer })).status).toBe(
      404,
    );
    const ack = await http(base, "POST", `/api/v2/alarms/${active[0]?.id}/ack`, { bearer: owner.bearer });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ state: "acknowledged", acknowledged_by: owner.id });

    // Its next reading clears it.
    await report(monitor, 6.7);
    const { value: cleared } = await within(
      10_000,
      () => alarmsOf("cleared"),
      (a) => a.length > 0,
    );
    expect(cleared[0]).toMatchObject({ id: active[0]?.id, kind: "offline", state: "cleared" });
    expect(await alarmsOf("acknowledged")).toEqual([]);
    sub.unsubscribe();
  });

  it("telemetry logged no error on the way (claims and publishes all succeeded)", () => {
    const errors = platform.procs
      .filter((p) => p.name === "telemetry")
      .flatMap((p) => p.logs.filter((l) => typeof l.level === "number" && l.level >= 50));
    expect(errors).toEqual([]);
  });
});
