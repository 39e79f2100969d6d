/**
 * Commands to devices end to end: HTTP → gateway → telemetry → NATS → a device connected with its
 * own credentials (auth callout) → its answer back into the command record.
 */
import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { commandEvents, deviceSubjects } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMonitor, connectDevice, type DeviceCredentials, simulatorLikeDevice } from "./support/devices.ts";
import { ADMIN, http, type Platform, registerUser, startPlatform, within } from "./support/platform.ts";

const stack = useFileStack();
let platform: Platform;
let base: string;
let admin: string;
let owner: { id: string; bearer: string };
let stranger: { id: string; bearer: string };
const open: NatsConnection[] = [];

const device = async (m: DeviceCredentials) => {
  const nc = await connectDevice(stack.natsUrl, m);
  open.push(nc);
  return nc;
};
const send = (monitorId: string, body: unknown, options: { bearer?: string; wait?: boolean } = {}) =>
  http(base, "POST", `/api/v2/monitors/${monitorId}/commands${options.wait ? "?wait=true" : ""}`, {
    bearer: options.bearer ?? owner.bearer,
    json: body,
  });
const getCommand = (id: string, bearer = owner.bearer) => http(base, "GET", `/api/v2/commands/${id}`, { bearer });
const untilState = (id: string, states: string[], ms = 10_000) =>
  within(
    ms,
    async () => (await getCommand(id)).body,
    (c) => states.includes(c?.state),
  ).then((r) => r.value);

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth", "telemetry"],
    extraEnv: { COMMAND_RETRY_INTERVAL_MS: "500" },
  });
  base = platform.base;
  const token = await http(base, "POST", "/api/v2/auth/token", {
    form: { grant_type: "password", username: ADMIN.username, password: ADMIN.password },
  });
  admin = token.body.access_token;
  owner = await registerUser(base, platform.suffix, "grower");
  stranger = await registerUser(base, platform.suffix, "stranger");
});

afterAll(async () => {
  await Promise.all(open.map((nc) => nc.close().catch(() => {})));
  await platform?.stop();
});

describe("a command round trip", () => {
  it("calibrate_ph to a connected simulator-like device: succeeded with its result, every state an event", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const sim = simulatorLikeDevice(await device(m), m.id, 6.4);
    // Watch the state events as another service would (the platform's own NATS user).
    const svc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    open.push(svc);
    const events: Msg[] = [];
    svc.subscribe(commandEvents.stateChanged.wildcard, { callback: (_e, msg) => void events.push(msg) });
    await svc.flush();

    const res = await send(m.id, { name: "calibrate_ph", params: { reference: 7 }, timeout_ms: 5_000 }, { wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.headers.get("location")).toBe(`/api/v2/commands/${res.body.id}`);
    expect(res.body).toMatchObject({
      monitorId: m.id,
      name: "calibrate_ph",
      params: { reference: 7 },
      persistent: false,
      state: "succeeded",
      result: { reference: 7, measured: 6.4, offset: 0.6 },
      error: null,
      attempts: 1,
    });
    expect(Date.parse(res.body.deliveredAt)).toBeGreaterThanOrEqual(Date.parse(res.body.createdAt));
    expect(Date.parse(res.body.finishedAt)).toBeGreaterThanOrEqual(Date.parse(res.body.deliveredAt));
    // What the device received: exactly the contract's payload.
    expect(sim.received).toEqual([{ id: res.body.id, name: "calibrate_ph", params: { reference: 7 } }]);
    expect(sim.settings.phCalibration?.offset).toBe(0.6);

    const got = await getCommand(res.body.id);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
    await within(
      3_000,
      async () => events.filter((e) => e.subject === commandEvents.stateChanged.subject(m.id, res.body.id)),
      (e) => e.length >= 2,
    );
    const states = events.map((e) => e.json<{ id: string; state: string }>()).filter((e) => e.id === res.body.id);
    expect(states.map((e) => e.state)).toEqual(["delivered", "succeeded"]);
  });

  it("set_interval changes the device's interval; without wait the POST answers 202 and the command finishes", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const sim = simulatorLikeDevice(await device(m), m.id);
    const res = await send(m.id, { name: "set_interval", params: { interval_ms: 2_000 } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(["delivered", "succeeded"]).toContain(res.body.state);
    expect(res.body.timeoutMs).toBe(10_000); // the default
    const done = await untilState(res.body.id, ["succeeded", "failed"]);
    expect(done).toMatchObject({ state: "succeeded", result: { interval_ms: 2_000, previous_ms: null } });
    expect(sim.settings.intervalMs).toBe(2_000);
  });

  it("an unknown command name fails with the device's error; a bad parameter too", async () => {
    const m = await addMonitor(base, admin, owner.id);
    simulatorLikeDevice(await device(m), m.id);
    const res = await send(m.id, { name: "open_valve", params: { valve: 2 }, timeout_ms: 5_000 }, { wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: "failed", error: 'unknown command "open_valve"' });
    expect(res.body.result).toBeUndefined();
    const bad = await send(m.id, { name: "set_interval", params: { interval_ms: 5 } }, { wait: true });
    expect(bad.body).toMatchObject({ state: "failed", error: expect.stringMatching(/interval_ms must be/) });
  });

  it("a device that does not answer in time: failed, no answer within timeout_ms", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const nc = await device(m);
    nc.subscribe(deviceSubjects.commands(m.id)); // hears commands, never answers
    await nc.flush();
    const res = await send(m.id, { name: "calibrate_ph", timeout_ms: 300 }, { wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: "failed", error: "no answer within 300 ms" });
    expect(res.body.deliveredAt).not.toBeNull();
  });
});

describe("devices that are not connected", () => {
  it("a non-persistent command to an offline device fails fast: device offline", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const started = Date.now();
    const res = await send(m.id, { name: "calibrate_ph", timeout_ms: 30_000 });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ state: "failed", error: "device offline", deliveredAt: null, attempts: 1 });
    expect(Date.now() - started).toBeLessThan(5_000); // not the 30 s timeout
    expect((await getCommand(res.body.id)).body.state).toBe("failed");
  });

  it("a persistent command waits (pending) and is delivered once the device connects", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const res = await send(m.id, {
      name: "set_interval",
      params: { interval_ms: 1_000 },
      persistent: true,
      expires_in_ms: 60_000,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ state: "pending", persistent: true, deliveredAt: null, error: null });
    expect(Date.parse(res.body.expiresAt) - Date.parse(res.body.createdAt)).toBe(60_000);
    // Still waiting a few retries later.
    await new Promise((r) => setTimeout(r, 1_200));
    const waiting = (await getCommand(res.body.id)).body;
    expect(waiting.state).toBe("pending");
    expect(waiting.attempts).toBeGreaterThan(1);

    const sim = simulatorLikeDevice(await device(m), m.id);
    const done = await untilState(res.body.id, ["succeeded", "failed", "expired"]);
    expect(done).toMatchObject({ state: "succeeded", result: { interval_ms: 1_000 } });
    expect(sim.received.map((c) => c.id)).toEqual([res.body.id]);
    expect(Date.parse(done.deliveredAt)).toBeGreaterThan(Date.parse(waiting.createdAt));
  });

  it("a persistent command whose device never connects is expired after expires_in_ms", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const res = await send(m.id, { name: "calibrate_ph", persistent: true, expires_in_ms: 1_000 });
    expect(res.body.state).toBe("pending");
    const done = await untilState(res.body.id, ["succeeded", "failed", "expired"]);
    expect(done).toMatchObject({ state: "expired", deliveredAt: null });
    expect(done.error).toMatch(/not delivered within 1000 ms/);
    expect(Date.parse(done.finishedAt)).toBeGreaterThanOrEqual(Date.parse(done.expiresAt));
    // A device connecting afterwards does not get it.
    const sim = simulatorLikeDevice(await device(m), m.id);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(sim.received).toEqual([]);
  });
});

describe("a device answers only its own commands", () => {
  it("another device cannot publish a result to a command's reply subject; the real device's answer counts", async () => {
    const mine = await addMonitor(base, admin, owner.id);
    const other = await addMonitor(base, admin, owner.id);
    const ncMine = await device(mine);
    const ncOther = await device(other);
    // The addressed device holds the request (it answers only when told), so the reply subject is live.
    let heard!: (m: Msg) => void;
    const request = new Promise<Msg>((r) => {
      heard = r;
    });
    ncMine.subscribe(deviceSubjects.commands(mine.id), { callback: (_e, msg) => heard(msg) });
    await ncMine.flush();

    const sent = send(mine.id, { name: "calibrate_ph", timeout_ms: 10_000 }, { wait: true });
    const msg = await request;
    expect(msg.reply).toBeTruthy();

    // The other device learns the reply subject (say, by guessing) and tries to answer it.
    const violation = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of ncOther.status()) {
          if (s.type === "error") return resolve(String((s as { error?: Error }).error?.message));
        }
      })();
    });
    ncOther.publish(msg.reply as string, JSON.stringify({ ok: true, result: "forged" }));
    await ncOther.flush().catch(() => {});
    expect(await violation).toMatch(/Permissions Violation for Publish/i);
    // Nor may it read the other device's commands, or publish to its commands subject.
    const nc3 = await device(other);
    const violation3 = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of nc3.status()) {
          if (s.type === "error") return resolve(String((s as { error?: Error }).error?.message));
        }
      })();
    });
    nc3.publish(deviceSubjects.commands(mine.id), JSON.stringify({ id: "x", name: "calibrate_ph", params: {} }));
    await nc3.flush().catch(() => {});
    expect(await violation3).toMatch(/Permissions Violation for Publish/i);

    msg.respond(JSON.stringify({ ok: true, result: "genuine" }));
    const res = await sent;
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: "succeeded", result: "genuine" });
    // And the device itself may answer once only: a second answer is refused by the server.
    const again = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of ncMine.status()) {
          if (s.type === "error") return resolve(String((s as { error?: Error }).error?.message));
        }
      })();
    });
    msg.respond(JSON.stringify({ ok: true, result: "twice" }));
    await ncMine.flush().catch(() => {});
    expect(await again).toMatch(/Permissions Violation for Publish/i);
    expect((await getCommand(res.body.id)).body.result).toBe("genuine");
  });
});

describe("who may command", () => {
  it("another user gets 404 for the monitor and for its commands; a monitor token 403; an admin may", async () => {
    const m = await addMonitor(base, admin, owner.id);
    simulatorLikeDevice(await device(m), m.id);
    const mine = await send(m.id, { name: "calibrate_ph" }, { wait: true });
    expect(mine.status).toBe(200);

    const theirs = await send(m.id, { name: "calibrate_ph" }, { bearer: stranger.bearer });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    const unknown = await send(randomBytes(16).toString("hex"), { name: "calibrate_ph" }, { bearer: stranger.bearer });
    expect(unknown.body).toEqual(theirs.body); // the same answer as a monitor that does not exist
    expect((await http(base, "GET", `/api/v2/monitors/${m.id}/commands`, { bearer: stranger.bearer })).status).toBe(
      404,
    );
    expect((await getCommand(mine.body.id, stranger.bearer)).status).toBe(404);
    const monitorLogin = await http(base, "POST", "/api/v1/login/monitor", {
      json: { monitor_id: m.id, password: m.password },
    });
    const monitorToken = monitorLogin.body.data.token;
    expect((await send(m.id, { name: "calibrate_ph" }, { bearer: monitorToken })).status).toBe(403);
    expect((await http(base, "POST", `/api/v2/monitors/${m.id}/commands`, { json: { name: "x" } })).status).toBe(401);

    const byAdmin = await send(m.id, { name: "calibrate_ph" }, { bearer: admin, wait: true });
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body.state).toBe("succeeded");
    expect((await getCommand(mine.body.id, admin)).status).toBe(200);

    // Nothing the stranger tried was stored.
    const history = await http(base, "GET", `/api/v2/monitors/${m.id}/commands`, { bearer: owner.bearer });
    expect(history.body.items.map((c: { id: string }) => c.id)).toEqual([byAdmin.body.id, mine.body.id]);
  });
});

describe("bad input", () => {
  it("an invalid body or query is a 400 naming the field, and nothing is stored", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const cases: [unknown, RegExp][] = [
      [{}, /name/],
      [{ name: "" }, /name/],
      [{ name: "Reboot Now" }, /name/],
      [{ name: "calibrate_ph", params: [1, 2] }, /params/],
      [{ name: "calibrate_ph", params: "x" }, /params/],
      [{ name: "calibrate_ph", timeout_ms: 0 }, /timeout_ms/],
      [{ name: "calibrate_ph", timeout_ms: 1e9 }, /timeout_ms/],
      [{ name: "calibrate_ph", timeout_ms: "5000" }, /timeout_ms/],
      [{ name: "calibrate_ph", persistent: "yes" }, /persistent/],
      [{ name: "calibrate_ph", expires_in_ms: 60_000 }, /expires_in_ms/],
      [{ name: "calibrate_ph", persistent: true, expires_in_ms: 10 }, /expires_in_ms/],
      [{ name: "calibrate_ph", unknown_field: 1 }, /unknown_field|Unrecognized/i],
      [{ name: "calibrate_ph", params: { blob: "x".repeat(20_000) } }, /params/],
    ];
    for (const [body, field] of cases) {
      const res = await send(m.id, body);
      expect(res.status, JSON.stringify({ body, res: res.body })).toBe(400);
      expect(res.body.error.code).toBe("invalid_argument");
      expect(res.body.error.message).toMatch(field);
    }
    const notJson = await http(base, "POST", `/api/v2/monitors/${m.id}/commands`, {
      bearer: owner.bearer,
      headers: { "content-type": "application/json" },
    });
    expect(notJson.status).toBe(400);
    expect((await send("not-a-monitor", { name: "calibrate_ph" })).status).toBe(400);
    const valid = await send(m.id, { name: "calibrate_ph" });
    expect(valid.status).toBe(202);
    expect(
      (
        await http(base, "POST", `/api/v2/monitors/${m.id}/commands?wait=maybe`, {
          bearer: owner.bearer,
          json: { name: "calibrate_ph" },
        })
      ).status,
    ).toBe(400);
    expect((await getCommand("not-a-uuid")).status).toBe(400);
    expect(
      (await http(base, "GET", `/api/v2/monitors/${m.id}/commands?cursor=zz`, { bearer: owner.bearer })).status,
    ).toBe(400);
    expect(
      (await http(base, "GET", `/api/v2/monitors/${m.id}/commands?limit=0`, { bearer: owner.bearer })).status,
    ).toBe(400);
    // Only the one valid command above was stored (failed: device offline).
    const history = await http(base, "GET", `/api/v2/monitors/${m.id}/commands`, { bearer: owner.bearer });
    expect(history.body.items).toHaveLength(1);
    expect(history.body.items[0]).toMatchObject({ state: "failed", error: "device offline" });
  });
});

describe("history", () => {
  it("pages a monitor's commands newest first with nextCursor", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send(m.id, { name: "calibrate_ph", params: { n: i } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const page = await http(base, "GET", `/api/v2/monitors/${m.id}/commands${q}`, { bearer: owner.bearer });
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((c: { id: string }) => c.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });
});

describe("a deleted monitor", () => {
  it("takes its commands with it: a waiting one is never delivered", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const done = await send(m.id, { name: "calibrate_ph" });
    const waiting = await send(m.id, { name: "calibrate_ph", persistent: true });
    expect(waiting.body.state).toBe("pending");
    const del = await http(base, "DELETE", `/api/v2/monitors/${m.id}`, { bearer: admin });
    expect(del.status).toBe(204);
    expect((await getCommand(done.body.id, admin)).status).toBe(404);
    expect((await getCommand(waiting.body.id, admin)).status).toBe(404);
    expect((await http(base, "GET", `/api/v2/monitors/${m.id}/commands`, { bearer: admin })).status).toBe(404);
  });
});

describe("readings still flow", () => {
  it("a device answering commands still publishes its readings", async () => {
    const m = await addMonitor(base, admin, owner.id);
    const nc = await device(m);
    simulatorLikeDevice(nc, m.id);
    await jetstream(nc).publish(deviceSubjects.readings(m.id), JSON.stringify({ ph: 6.1 }));
    const { value } = await within(
      5_000,
      async () => (await http(base, "GET", `/api/v2/monitors/${m.id}`, { bearer: owner.bearer })).body,
      (b) => b.readingsStored === 1,
    );
    expect(value.readingsStored).toBe(1);
  });
});
