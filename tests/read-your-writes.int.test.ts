/**
 * Altoponix fidelity through the real gateway, auth and two telemetry instances: a 200 from
 * `/api/v1/monitors/update` or `POST /api/v2/monitors/:id/readings` means the reading is stored and
 * visible; a submission that outlives the request deadline is a 504 and still stored once; the
 * original server's update rules (unknown keys, null, "", wrong types).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, loginBoth, type Platform, startPlatform, type Tokens, within } from "./support/platform.ts";
import { storedReadings } from "./support/readings.ts";

// A NATS server of its own: the file runs services (their subjects and streams are fixed names).
const stack = useFileStack();

const hex = (bytes = 16) => randomBytes(bytes).toString("hex");

type Session = Tokens;
const login = loginBoth;

/** A monitor for the admin, logged in: its id and v1 token (which is also a bearer token in v2). */
async function addMonitor(base: string, admin: Session, ownerId: string): Promise<{ id: string; token: string }> {
  const id = hex();
  const password = `Mon-${hex(6)}`;
  const added = await http(base, "POST", "/api/v1/monitors/add", {
    json: { token: admin.v1Token, user_id: ownerId, monitor_id: id, password },
  });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  const logged = await http(base, "POST", "/api/v1/login/monitor", { json: { monitor_id: id, password } });
  expect(logged.status).toBe(200);
  return { id, token: logged.body.data.token };
}

async function adminUserId(base: string, admin: Session): Promise<string> {
  const me = await http(base, "GET", "/api/v2/me", { bearer: admin.bearer });
  return me.body.userId;
}

describe("read-your-writes with two telemetry instances", () => {
  let platform: Platform;
  let base: string;
  let admin: Session;
  let ownerId: string;

  beforeAll(async () => {
    platform = await startPlatform({ stack, services: ["auth", "telemetry"] });
    platform.procs.push(
      await startService(
        "telemetry",
        platform.env("telemetry", { INSTANCE_ID: `telemetry-${platform.suffix}-2`, LOG_LEVEL: "debug" }),
      ),
    );
    base = platform.base;
    admin = await login(base, ADMIN.username, ADMIN.password);
    ownerId = await adminUserId(base, admin);
  }, 60_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it("after a 200 from /api/v1/monitors/update an immediate get shows the value and the history entry, 100 times in a row", async () => {
    const monitor = await addMonitor(base, admin, ownerId);
    for (let i = 0; i < 100; i++) {
      const value = 5 + i / 100;
      const res = await http(base, "POST", "/api/v1/monitors/update", {
        json: { token: monitor.token, monitor_id: monitor.id, ph: value },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const got = await http(base, "GET", `/api/v1/monitors/get?token=${admin.v1Token}&monitor_id=${monitor.id}`);
      expect(got.status).toBe(200);
      expect(got.body.data.ph.value, `iteration ${i}`).toBe(value);
      expect(Object.keys(got.body.data.ph.history), `iteration ${i}`).toHaveLength(i + 1);
    }
    // Both instances wrote rounds and answered submissions: the write and the wait crossed instances.
    const telemetries = platform.procs.filter((p) => p.name === "telemetry");
    for (const t of telemetries) {
      expect(t.logs.some((l) => l.msg === "readings round written")).toBe(true);
    }
  }, 120_000);

  it("after a 200 from POST /api/v2/monitors/:id/readings the reading is in latest, history and the counters, 100 times in a row", async () => {
    const monitor = await addMonitor(base, admin, ownerId);
    const t0 = Date.now() - 60_000;
    for (let i = 0; i < 100; i++) {
      const res = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
        bearer: monitor.token,
        json: { reservoir_temp: i, timestamp: t0 + i },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ stored: true, duplicate: false });
      const [latest, history, mon] = await Promise.all([
        http(base, "GET", `/api/v2/monitors/${monitor.id}/readings/latest`, { bearer: admin.bearer }),
        http(base, "GET", `/api/v2/monitors/${monitor.id}/readings?from=${t0}&limit=1000`, { bearer: admin.bearer }),
        http(base, "GET", `/api/v2/monitors/${monitor.id}`, { bearer: admin.bearer }),
      ]);
      expect(latest.body.values.reservoir_temp, `iteration ${i}`).toEqual({ value: i, at: t0 + i });
      expect(history.body.items, `iteration ${i}`).toHaveLength(i + 1);
      expect(mon.body.readingsStored, `iteration ${i}`).toBe(i + 1);
    }
  }, 120_000);

  it('the original\'s update rules: unknown keys, null and "" ignored, integers kept, wrong types skipped', async () => {
    const monitor = await addMonitor(base, admin, ownerId);
    const update = (fields: Record<string, unknown>) =>
      http(base, "POST", "/api/v1/monitors/update", {
        json: { token: monitor.token, monitor_id: monitor.id, ...fields },
      });
    const get = async () =>
      (await http(base, "GET", `/api/v1/monitors/get?token=${admin.v1Token}&monitor_id=${monitor.id}`)).body.data;

    // A mixed body: one good field, one of the wrong type, a null, an empty string, an unknown key.
    const mixed = await update({ ph: 3, reservoir_temp: "warm", air_flow: null, soil_moisture: "", humidity: 40 });
    expect(mixed.status, JSON.stringify(mixed.body)).toBe(200);
    expect(mixed.body).toEqual({ success: true, data: null });
    let data = await get();
    expect(data.ph.value).toBe(3);
    expect(Object.values(data.ph.history)).toEqual([3]);
    for (const skipped of ["reservoir_temp", "air_flow", "soil_moisture"]) {
      expect(data[skipped], skipped).toEqual({ value: null, history: {} });
    }
    expect(data.humidity).toBeUndefined();

    // A camera field of the wrong type is skipped too; a string measurement next to a good image.
    const images = await update({ foliage_feed: 12, root_stream: "aGVsbG8=", ph: "7" });
    expect(images.status).toBe(200);
    data = await get();
    expect(data.foliage_feed).toBeNull();
    expect(data.root_stream).toBe("aGVsbG8=");
    expect(Object.values(data.ph.history)).toEqual([3]);

    // Only bad fields: the seed's 400, and nothing stored.
    const before = (await http(base, "GET", `/api/v2/monitors/${monitor.id}`, { bearer: admin.bearer })).body;
    for (const body of [{ ph: "high", foliage_feed: 3 }, { humidity: 1 }, { ph: null, reservoir_temp: "" }, {}]) {
      const res = await update(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual({ success: false, cause: "no measurements could be updated" });
    }
    const after = (await http(base, "GET", `/api/v2/monitors/${monitor.id}`, { bearer: admin.bearer })).body;
    expect(after.readingsStored).toBe(before.readingsStored);
    expect(after.readingsRejected).toBe(before.readingsRejected);
    expect(await get()).toEqual(data);
  });

  it("v2 stays strict: a wrong type is a 400 naming the field", async () => {
    const monitor = await addMonitor(base, admin, ownerId);
    const res = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
      bearer: monitor.token,
      json: { ph: "6.5", humidity: 4 },
    });
    expect(res.status).toBe(400);
    const paths = res.body.error.details.issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["ph"]));
    const invalidKey = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
      bearer: monitor.token,
      json: { ph: 6 },
      headers: { "idempotency-key": "has spaces in it" },
    });
    expect(invalidKey.status).toBe(400);
  });
});

describe("a submission that outlives the request deadline", () => {
  let platform: Platform;
  let base: string;
  let admin: Session;
  let ownerId: string;
  let mongo: MongoClient;

  beforeAll(async () => {
    // Rounds wait 2.5 s for a batch to fill (a slow store, as far as a caller can tell); callers wait 0.6 s.
    platform = await startPlatform({
      stack,
      services: ["auth", "telemetry"],
      extraEnv: { REQUEST_TIMEOUT_MS: "600", INGEST_MAX_WAIT_MS: "2500" },
    });
    base = platform.base;
    admin = await login(base, ADMIN.username, ADMIN.password);
    ownerId = await adminUserId(base, admin);
    mongo = await MongoClient.connect(stack.mongoUrl);
  }, 60_000);

  afterAll(async () => {
    await mongo?.close();
    await platform?.stop();
  });

  const storedCount = async (monitorId: string) =>
    (await storedReadings(mongo.db(platform.dbName("telemetry")), [monitorId])).physical;

  it("v1: 504 in the compatibility envelope, and the reading is still stored exactly once", async () => {
    const monitor = await addMonitor(base, admin, ownerId);
    const started = Date.now();
    const res = await http(base, "POST", "/api/v1/monitors/update", {
      json: { token: monitor.token, monitor_id: monitor.id, ph: 6.25 },
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(res.status).toBe(504);
    expect(res.body.success).toBe(false);
    expect(res.body.cause).toMatch(/not stored yet; it will be stored exactly once/);
    const { value } = await within(
      10_000,
      () => storedCount(monitor.id),
      (n) => n >= 1,
    );
    expect(value).toBe(1);
    // Another round later: still once.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await storedCount(monitor.id)).toBe(1);
    const got = await http(base, "GET", `/api/v1/monitors/get?token=${admin.v1Token}&monitor_id=${monitor.id}`);
    expect(got.body.data.ph.value).toBe(6.25);
  }, 30_000);

  it("v2: 504, then a retry with the same Idempotency-Key is stored once and answered 200 (duplicate)", async () => {
    const monitor = await addMonitor(base, admin, ownerId);
    const key = randomUUID();
    const submit = () =>
      http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
        bearer: monitor.token,
        json: { ph: 7.5 },
        headers: { "idempotency-key": key },
      });
    const first = await submit();
    expect(first.status).toBe(504);
    expect(first.body.error).toMatchObject({ code: "deadline_exceeded", retryable: true });
    // An immediate retry (the first is still pending) is the same message: also not stored twice.
    const second = await submit();
    expect([200, 504]).toContain(second.status);
    await within(
      10_000,
      () => storedCount(monitor.id),
      (n) => n >= 1,
    );
    const third = await submit();
    expect(third.status, JSON.stringify(third.body)).toBe(200);
    expect(third.body).toMatchObject({ stored: true, duplicate: true });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await storedCount(monitor.id)).toBe(1);
    // A different key is a different reading.
    const other = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
      bearer: monitor.token,
      json: { ph: 7.6 },
      headers: { "idempotency-key": randomUUID() },
    });
    expect(other.status).toBe(504);
    await within(
      10_000,
      () => storedCount(monitor.id),
      (n) => n >= 2,
    );
    expect(await storedCount(monitor.id)).toBe(2);
  }, 40_000);
});
