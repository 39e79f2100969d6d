/**
 * Live readings over SSE (issue 11): devices publish over NATS with their own credentials,
 * telemetry stores each reading and publishes it to `TELEMETRY_LIVE`, the gateway streams it.
 */
import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects, LIVE_STREAM, liveSubjects } from "@trellis/contracts";
import { poll } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Account, ADMIN, http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { parseSseBlock, type ReceivedEvent } from "./support/sse.ts";

interface Device {
  id: string;
  password: string;
  nc: NatsConnection;
  /** Publishes a reading as the device; resolves with its sequence in the readings stream. */
  publish(reading: Record<string, unknown>): Promise<number>;
}

const stack = useFileStack();
let platform: Platform;
let base: string;
let adminToken: string;
let svc: NatsConnection;
let alice: Account;
let bob: Account;
let carol: Account;
const devices: Device[] = [];

async function addDevice(owner: Account): Promise<Device> {
  const id = randomBytes(16).toString("hex");
  const password = `Device-${randomBytes(6).toString("hex")}`;
  const res = await http(base, "POST", "/api/v1/monitors/add", {
    json: { token: adminToken, user_id: owner.id, monitor_id: id, password },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const nc = await connect({
    servers: stack.natsUrl,
    user: id,
    pass: password,
    inboxPrefix: deviceSubjects.inboxPrefix(id),
    maxReconnectAttempts: 0,
  });
  const js = jetstream(nc);
  let n = 0;
  const device: Device = {
    id,
    password,
    nc,
    publish: async (reading) =>
      (await js.publish(deviceSubjects.readings(id), JSON.stringify(reading), { msgID: `${id}-${++n}` })).seq,
  };
  devices.push(device);
  return device;
}

/** An open SSE response read as it arrives: the events so far, waiting for more, closing. */
interface LiveClient {
  status: number;
  contentType: string | null;
  events: ReceivedEvent[];
  /** The raw text so far (comments included). */
  text(): string;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  close(): void;
  ended: Promise<void>;
}

async function openLive(
  path: string,
  options: { bearer?: string; lastEventId?: string; query?: string; presence?: boolean } = {},
): Promise<LiveClient> {
  // A monitor's first reading also brings a `presence` event (monitor_online); the tests that
  // count readings leave those out, the one about other kinds keeps them.
  const keep = (e: ReceivedEvent) => options.presence === true || e.event !== "presence";
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
  const controller = new AbortController();
  const res = await fetch(`${base}${path}${options.query ?? ""}`, { headers, signal: controller.signal });
  const events: ReceivedEvent[] = [];
  let raw = "";
  let pending = "";
  const waiters = new Set<() => void>();
  const ended = (async () => {
    if (res.status !== 200 || !res.body) {
      raw = await res.text();
      return;
    }
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        raw += text;
        pending += text;
        let cut = pending.indexOf("\n\n");
        while (cut >= 0) {
          const e = parseSseBlock(pending.slice(0, cut));
          if (e && keep(e)) events.push(e);
          pending = pending.slice(cut + 2);
          cut = pending.indexOf("\n\n");
        }
        for (const w of waiters) w();
      }
    } catch {
      // aborted by close()
    }
    for (const w of waiters) w();
  })();
  let done = false;
  void ended.then(() => {
    done = true;
  });
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    events,
    text: () => raw,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count && !done && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
          waiters.add(wake);
        });
      }
      return events.slice();
    },
    close: () => controller.abort(),
    ended,
  };
}

const liveConsumers = async (): Promise<number> => {
  const jsm = await jetstreamManager(svc);
  return (await jsm.consumers.list(LIVE_STREAM).next()).length;
};

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth", "telemetry"] });
  base = platform.base;
  const login = await http(base, "POST", "/api/v1/login/user", { json: ADMIN });
  expect(login.status).toBe(200);
  adminToken = login.body.data.token;
  const register = (prefix: string) => registerUser(base, platform.suffix, prefix);
  [alice, bob, carol] = await Promise.all([register("alice"), register("bob"), register("carol")]);
  svc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.nc.close()));
  await svc?.close();
  await platform?.stop();
});

describe("GET /api/v2/monitors/{id}/live", () => {
  it("streams each reading a device publishes over NATS, once stored, with its stream sequence as id", async () => {
    const device = await addDevice(alice);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: alice.bearer });
    expect(live.status).toBe(200);
    expect(live.contentType).toMatch(/^text\/event-stream/);
    const at = Date.now() + 5_000;
    const seqs = [
      await device.publish({ ph: 6.1, reservoir_temp: 19.5 }),
      await device.publish({ ph: 6.2, foliage_feed: "aGVsbG8=" }),
      await device.publish({ ph: 6.3, timestamp: at }),
    ];
    const events = await live.waitFor(3);
    live.close();
    expect(events.map((e) => e.event)).toEqual(["reading", "reading", "reading"]);
    expect(events.map((e) => e.data.readingSeq)).toEqual(seqs);
    expect(events[0]?.data).toMatchObject({ monitorId: device.id, values: { ph: 6.1, reservoir_temp: 19.5 } });
    // String fields are named, not carried.
    expect(events[1]?.data).toMatchObject({ values: { ph: 6.2 }, strings: ["foliage_feed"] });
    expect(events[1]?.data).not.toHaveProperty("foliage_feed");
    expect(events[2]?.data.at).toBe(at);
    const ids = events.map((e) => Number(e.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as number);
    // Sent after it was stored: the reading is already visible to a query.
    const latest = await http(base, "GET", `/api/v2/monitors/${device.id}/readings/latest`, { bearer: alice.bearer });
    expect(latest.body.values.ph.value).toBe(6.3);
  });

  it("leaves rejected readings out", async () => {
    const device = await addDevice(alice);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: alice.bearer });
    await device.publish({ ph: "acid" });
    await device.publish({ nonsense: 1 });
    const good = await device.publish({ ph: 5.9 });
    const events = await live.waitFor(1);
    // Readings are stored (and published) in stream order: give anything wrong time to show up too.
    await new Promise((r) => setTimeout(r, 300));
    live.close();
    expect(live.events.map((e) => e.data.readingSeq)).toEqual([good]);
    expect(events[0]?.data.values).toEqual({ ph: 5.9 });
  });

  it("resumes after Last-Event-ID with every reading missed while away, none twice", async () => {
    const device = await addDevice(alice);
    const first = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: alice.bearer });
    const published: number[] = [];
    for (let i = 0; i < 5; i++) published.push(await device.publish({ ph: 6 + i / 10 }));
    const before = await first.waitFor(5);
    first.close();
    await first.ended;
    // Published while nobody listens.
    for (let i = 0; i < 7; i++) published.push(await device.publish({ ph: 7 + i / 10 }));
    const last = before.at(-1) as ReceivedEvent;
    const resumed = await openLive(`/api/v2/monitors/${device.id}/live`, {
      bearer: alice.bearer,
      lastEventId: last.id,
    });
    for (let i = 0; i < 3; i++) published.push(await device.publish({ ph: 8 + i / 10 }));
    const after = await resumed.waitFor(10);
    await new Promise((r) => setTimeout(r, 300));
    resumed.close();
    const seen = [...before, ...resumed.events];
    expect(after.length).toBe(10);
    expect(seen.map((e) => e.data.readingSeq)).toEqual(published);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);

    // An EventSource's first request carries the id in the query: the same resume.
    const byQuery = await openLive(`/api/v2/monitors/${device.id}/live`, {
      bearer: alice.bearer,
      query: `?lastEventId=${last.id}`,
    });
    const again = await byQuery.waitFor(10);
    byQuery.close();
    expect(again.map((e) => e.id)).toEqual(resumed.events.map((e) => e.id));
  });

  it("a Last-Event-ID past the stream's end (a recreated stream, a made-up id) starts from now", async () => {
    const device = await addDevice(alice);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, {
      bearer: alice.bearer,
      lastEventId: "999999999999",
    });
    expect(live.status).toBe(200);
    const seq = await device.publish({ ph: 6.7 });
    const events = await live.waitFor(1);
    live.close();
    expect(events[0]?.data.readingSeq).toBe(seq);
  });

  it("takes ?access_token= (EventSource), and refuses without credentials (401)", async () => {
    const device = await addDevice(alice);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, { query: `?access_token=${alice.bearer}` });
    expect(live.status).toBe(200);
    const seq = await device.publish({ ph: 6.6 });
    const events = await live.waitFor(1);
    live.close();
    expect(events[0]?.data.readingSeq).toBe(seq);

    const anonymous = await openLive(`/api/v2/monitors/${device.id}/live`);
    await anonymous.ended;
    expect(anonymous.status).toBe(401);
    const badToken = await openLive(`/api/v2/monitors/${device.id}/live`, { query: "?access_token=not-a-token" });
    await badToken.ended;
    expect(badToken.status).toBe(401);
  });

  it("refuses another user's monitor as GET /api/v2/monitors/{id} does, and sends no data", async () => {
    const device = await addDevice(alice);
    const monitorGet = await http(base, "GET", `/api/v2/monitors/${device.id}`, { bearer: bob.bearer });
    expect(monitorGet.status).toBe(404);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: bob.bearer });
    await device.publish({ ph: 6.4 });
    await live.ended;
    expect(live.status).toBe(monitorGet.status);
    expect(live.contentType).toMatch(/^application\/json/);
    expect(live.text()).not.toContain("readingSeq");
    // An id that does not exist gets the same answer, so ids cannot be probed.
    const unknown = await openLive(`/api/v2/monitors/${randomBytes(16).toString("hex")}/live`, {
      bearer: bob.bearer,
    });
    await unknown.ended;
    expect(unknown.status).toBe(monitorGet.status);
    // A malformed id is a 400.
    const malformed = await openLive("/api/v2/monitors/not-an-id/live", { bearer: alice.bearer });
    await malformed.ended;
    expect(malformed.status).toBe(400);
    // A monitor's own token reads nothing (as for GET /api/v2/monitors/{id}), nor /api/v2/live.
    const login = await http(base, "POST", "/api/v1/login/monitor", {
      json: { monitor_id: device.id, password: device.password },
    });
    expect(login.status).toBe(200);
    const asMonitor = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: login.body.data.token });
    await asMonitor.ended;
    expect(asMonitor.status).toBe(
      (await http(base, "GET", `/api/v2/monitors/${device.id}`, { bearer: login.body.data.token })).status,
    );
    expect(asMonitor.status).toBe(403);
    const allAsMonitor = await openLive("/api/v2/live", { bearer: login.body.data.token });
    await allAsMonitor.ended;
    expect(allAsMonitor.status).toBe(403);
    // The admin may follow it.
    const admin = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: adminToken });
    expect(admin.status).toBe(200);
    admin.close();
  });

  it("also streams the monitor's other kinds of live events (alarm, presence) under their kind", async () => {
    const device = await addDevice(alice);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: alice.bearer, presence: true });
    const js = jetstream(svc);
    await js.publish(liveSubjects.of(device.id, "alarm"), JSON.stringify({ monitorId: device.id, state: "active" }));
    // Its first reading: the reading itself and telemetry's monitor_online presence change.
    const seq = await device.publish({ ph: 6.5 });
    const events = await live.waitFor(3);
    live.close();
    expect(events[0]).toMatchObject({ event: "alarm", data: { monitorId: device.id, state: "active" } });
    expect(
      events
        .slice(1)
        .map((e) => e.event)
        .sort(),
    ).toEqual(["presence", "reading"]);
    expect(events.find((e) => e.event === "reading")?.data.readingSeq).toBe(seq);
    expect(events.find((e) => e.event === "presence")?.data).toMatchObject({ monitorId: device.id, state: "online" });
  });

  it("deletes its JetStream consumer when the client leaves", async () => {
    const device = await addDevice(alice);
    const live = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: alice.bearer });
    await device.publish({ ph: 6 });
    await live.waitFor(1);
    expect(await liveConsumers()).toBeGreaterThanOrEqual(1);
    live.close();
    const { value } = await poll(liveConsumers, (n) => n === 0, { timeoutMs: 10_000 });
    expect(value).toBe(0);
  });
  it("ends within seconds once the session is revoked (logout)", async () => {
    const erin = await registerUser(base, platform.suffix, "erin");
    const device = await addDevice(erin);
    const one = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: erin.bearer });
    const all = await openLive("/api/v2/live", { query: `?access_token=${erin.bearer}` });
    await device.publish({ ph: 6 });
    await Promise.all([one.waitFor(1), all.waitFor(1)]);
    const loggedOut = await http(base, "POST", "/api/v2/auth/logout", { bearer: erin.bearer });
    expect(loggedOut.status).toBe(204);
    const t0 = Date.now();
    await Promise.all([one.ended, all.ended]);
    expect(Date.now() - t0).toBeLessThan(5_000);
    for (const stream of [one, all]) expect(stream.events.at(-1)?.event).toBe("error");
    // And it cannot be opened again with that token.
    const again = await openLive(`/api/v2/monitors/${device.id}/live`, { bearer: erin.bearer });
    await again.ended;
    expect(again.status).toBe(401);
  });
});

describe("GET /api/v2/live", () => {
  it("streams the readings of all of the caller's monitors and none of another user's", async () => {
    const [a1, a2, c1] = await Promise.all([addDevice(alice), addDevice(alice), addDevice(carol)]);
    const live = await openLive("/api/v2/live", { bearer: alice.bearer });
    expect(live.status).toBe(200);
    const carolSeq = await c1.publish({ ph: 4.4 });
    const mine = [await a1.publish({ ph: 6.1 }), await a2.publish({ ph: 6.2 })];
    await c1.publish({ ph: 4.5 });
    mine.push(await a1.publish({ ph: 6.3 }));
    const events = await live.waitFor(3);
    await new Promise((r) => setTimeout(r, 300));
    live.close();
    expect(live.events.map((e) => e.data.readingSeq)).toEqual(mine);
    expect(events.map((e) => e.data.monitorId)).toEqual([a1.id, a2.id, a1.id]);
    expect(live.events.some((e) => e.data.readingSeq === carolSeq)).toBe(false);

    // Carol's own stream has hers, not Alice's.
    const carols = await openLive("/api/v2/live", { query: `?access_token=${carol.bearer}` });
    const next = await c1.publish({ ph: 4.6 });
    await a1.publish({ ph: 6.4 });
    const got = await carols.waitFor(1);
    await new Promise((r) => setTimeout(r, 300));
    carols.close();
    expect(carols.events.map((e) => e.data.readingSeq)).toEqual([next]);
    expect(got[0]?.data.monitorId).toBe(c1.id);
  });

  it("resumes after Last-Event-ID across monitors", async () => {
    const [a1, a2] = await Promise.all([addDevice(alice), addDevice(alice)]);
    const first = await openLive("/api/v2/live", { bearer: alice.bearer });
    const published = [await a1.publish({ ph: 6 }), await a2.publish({ ph: 6 })];
    const before = await first.waitFor(2);
    first.close();
    published.push(await a2.publish({ ph: 7 }), await a1.publish({ ph: 7 }));
    const resumed = await openLive("/api/v2/live", { bearer: alice.bearer, lastEventId: before.at(-1)?.id as string });
    const after = await resumed.waitFor(2);
    resumed.close();
    // Other tests' monitors of Alice may publish too: keep these two monitors' readings.
    const ours = new Set([a1.id, a2.id]);
    const seen = [...before, ...after].filter((e) => ours.has(e.data.monitorId as string));
    expect(seen.map((e) => e.data.readingSeq)).toEqual(published);
  });

  it("a user without monitors gets an open stream with nothing in it; an admin sees every monitor", async () => {
    const dave = await registerUser(base, platform.suffix, "dave");
    const empty = await openLive("/api/v2/live", { bearer: dave.bearer });
    expect(empty.status).toBe(200);
    const device = await addDevice(bob);
    const admin = await openLive("/api/v2/live", { bearer: adminToken });
    const seq = await device.publish({ ph: 6.8 });
    const adminEvents = await admin.waitFor(1);
    admin.close();
    expect(adminEvents[0]?.data.readingSeq).toBe(seq);
    await new Promise((r) => setTimeout(r, 300));
    empty.close();
    expect(empty.events).toEqual([]);
    const anonymous = await openLive("/api/v2/live");
    await anonymous.ended;
    expect(anonymous.status).toBe(401);
  });
});
