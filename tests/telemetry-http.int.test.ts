/**
 * The telemetry HTTP API through the real gateway, auth and telemetry processes: seed 002's five
 * monitor endpoints (every status code the seed lists, its permission table, the exact shape of
 * `monitors/get`, ingest round trips, time filters, a 1 MiB image, CORS) and the modern
 * `/api/v2/monitors` API (latest, history pages, series aggregates, CSV export).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { CSV_COLUMNS, deviceSubjects, MEASUREMENTS, STRING_FIELDS } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountWithTokens,
  type HttpReply,
  http,
  loginAdmin,
  type Platform,
  registerWithTokens,
  startPlatform,
  within,
} from "./support/platform.ts";

const hex = (bytes = 16) => randomBytes(bytes).toString("hex");
const INGEST_MS = 10_000;

interface MonitorCred {
  id: string;
  password: string;
  token: string;
}

const stack = useFileStack();
let platform: Platform;
let base: string;
let admin: AccountWithTokens;
let alice: AccountWithTokens;
let bob: AccountWithTokens;
/** alice's monitor and bob's monitor. */
let m1: MonitorCred;
let m2: MonitorCred;

const register = (prefix: string): Promise<AccountWithTokens> => registerWithTokens(base, platform.suffix, prefix);

const post = (path: string, json: unknown) => http(base, "POST", path, { json });

/** Adds a monitor through seed 002's `monitors/add` (as admin) and logs it in. */
async function addMonitor(ownerId: string): Promise<MonitorCred> {
  const id = hex();
  const password = `Mon-${hex(6)}`;
  const added = await post("/api/v1/monitors/add", {
    token: admin.v1Token,
    user_id: ownerId,
    monitor_id: id,
    password,
  });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  expect(added.body).toEqual({ success: true, data: null });
  const login = await post("/api/v1/login/monitor", { monitor_id: id, password });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return { id, password, token: login.body.data.token };
}

function v1Get(token: string | undefined, params: Record<string, string | number> = {}): Promise<HttpReply> {
  const q = new URLSearchParams();
  if (token !== undefined) q.set("token", token);
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  return http(base, "GET", `/api/v1/monitors/get?${q}`);
}

async function update(token: string, monitorId: string, fields: Record<string, unknown>): Promise<void> {
  const res = await post("/api/v1/monitors/update", { token, monitor_id: monitorId, ...fields });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body).toEqual({ success: true, data: null });
}

/** Polls `monitors/get` (as the owner's token) until `ok` holds on the data. */
// biome-ignore lint/suspicious/noExplicitAny: seed-shaped bodies are asserted field by field
async function getUntil(token: string, monitorId: string, ok: (data: any) => boolean, extra = {}) {
  const { value } = await within(
    INGEST_MS,
    () => v1Get(token, { monitor_id: monitorId, ...extra }),
    (r) => r.status === 200 && ok(r.body.data),
  );
  expect(value.status, JSON.stringify(value.body)).toBe(200);
  expect(ok(value.body.data), JSON.stringify(value.body.data).slice(0, 2_000)).toBe(true);
  return value.body.data;
}

const SEED_KEYS = [...MEASUREMENTS, ...STRING_FIELDS].sort();

/** Seed 002's `monitors/get` shape, exactly: the key set and each value's type. */
function expectSeedShape(data: unknown, extraKeys: string[] = []): void {
  expect(data).toBeTypeOf("object");
  const d = data as Record<string, unknown>;
  expect(Object.keys(d).sort()).toEqual([...SEED_KEYS, ...extraKeys].sort());
  for (const m of MEASUREMENTS) {
    const measurement = d[m] as Record<string, unknown>;
    expect(Object.keys(measurement).sort(), m).toEqual(["history", "value"]);
    expect(measurement.value === null || typeof measurement.value === "number", `${m}.value`).toBe(true);
    const history = measurement.history;
    expect(history !== null && typeof history === "object" && !Array.isArray(history), `${m}.history`).toBe(true);
    for (const [at, v] of Object.entries(history as Record<string, unknown>)) {
      expect(at).toMatch(/^\d+$/);
      expect(v).toBeTypeOf("number");
    }
  }
  for (const s of STRING_FIELDS) expect(d[s] === null || typeof d[s] === "string", s).toBe(true);
}

const expectV1Failure = (r: HttpReply, status: number) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body).toMatchObject({ success: false, cause: expect.any(String) });
};

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth", "telemetry"] });
  base = platform.base;
  admin = await loginAdmin(base);
  [alice, bob] = await Promise.all([register("alice"), register("bob")]);
  [m1, m2] = await Promise.all([addMonitor(alice.id), addMonitor(bob.id)]);
});

afterAll(async () => {
  await platform?.stop();
});

// ---------------------------------------------------------------------------------------------
// Permission table (seed 002): read: admin + user (own); update: admin + monitor (own);
// reset/delete/add and get-all: admin. No token / a malformed token is a 400 in v1 (a required
// argument is missing or invalid); a well-formed token that is no session is a 401.
// ---------------------------------------------------------------------------------------------

type Who = "none" | "malformed" | "unknown" | "owner" | "other" | "monitor" | "otherMonitor" | "admin";
const WHO: Who[] = ["none", "malformed", "unknown", "owner", "other", "monitor", "otherMonitor", "admin"];
const UNAUTH = { none: 400, malformed: 400, unknown: 401 } as const;
const ADMIN_ONLY = { ...UNAUTH, owner: 403, other: 403, monitor: 403, otherMonitor: 403, admin: 200 };

interface Row {
  name: string;
  /** `fresh`: the target is a new monitor of alice's per cell (rows that destroy it). */
  target: "m1" | "fresh";
  call: (token: string | undefined, target: MonitorCred) => Promise<HttpReply>;
  expect: Record<Who, number>;
  check?: (reply: HttpReply) => void;
}

const withToken = (token: string | undefined) => (token === undefined ? {} : { token });

const rows: Row[] = [
  {
    name: "GET /api/v1/monitors/get?monitor_id",
    target: "m1",
    call: (t, m) => v1Get(t, { monitor_id: m.id }),
    expect: { ...UNAUTH, owner: 200, other: 403, monitor: 403, otherMonitor: 403, admin: 200 },
    check: (r) => expectSeedShape(r.body.data),
  },
  {
    name: "GET /api/v1/monitors/get (all monitors)",
    target: "m1",
    call: (t) => v1Get(t),
    expect: ADMIN_ONLY,
  },
  {
    name: "POST /api/v1/monitors/update",
    target: "m1",
    call: (t, m) => post("/api/v1/monitors/update", { ...withToken(t), monitor_id: m.id, ph: 6.5 }),
    expect: { ...UNAUTH, owner: 403, other: 403, monitor: 200, otherMonitor: 403, admin: 200 },
  },
  {
    name: "POST /api/v1/monitors/add",
    target: "m1",
    call: (t) =>
      post("/api/v1/monitors/add", { ...withToken(t), user_id: alice.id, monitor_id: hex(), password: "Added-Pw-1" }),
    expect: ADMIN_ONLY,
  },
  {
    name: "POST /api/v1/monitors/reset",
    target: "fresh",
    call: (t, m) => post("/api/v1/monitors/reset", { ...withToken(t), monitor_id: m.id }),
    expect: ADMIN_ONLY,
  },
  {
    name: "POST /api/v1/monitors/delete",
    target: "fresh",
    call: (t, m) => post("/api/v1/monitors/delete", { ...withToken(t), monitor_id: m.id }),
    expect: ADMIN_ONLY,
  },
];

function tokenFor(who: Who, target: MonitorCred): string | undefined {
  switch (who) {
    case "none":
      return undefined;
    case "malformed":
      return "xyz";
    case "unknown":
      return hex();
    case "owner":
      return alice.v1Token;
    case "other":
      return bob.v1Token;
    case "monitor":
      return target.token;
    case "otherMonitor":
      return m2.token;
    case "admin":
      return admin.v1Token;
  }
}

describe("permission table (seed 002): endpoint × identity → status", () => {
  for (const row of rows) {
    it(row.name, async () => {
      const seen: Record<string, number> = {};
      for (const who of WHO) {
        const target = row.target === "fresh" ? await addMonitor(alice.id) : m1;
        const reply = await row.call(tokenFor(who, target), target);
        seen[who] = reply.status;
        if (reply.status === 200) {
          expect(reply.body.success).toBe(true);
          row.check?.(reply);
        } else {
          expect(reply.body, `${row.name} as ${who}`).toMatchObject({ success: false, cause: expect.any(String) });
        }
      }
      expect(seen).toEqual(row.expect);
    }, 60_000);
  }
});

// ---------------------------------------------------------------------------------------------
// Every status code seed 002 lists for the five monitor endpoints.
// ---------------------------------------------------------------------------------------------

describe("GET /api/v1/monitors/get: 200 / 400 / 401 / 403", () => {
  it("200 for the owner and for an admin", async () => {
    expect((await v1Get(alice.v1Token, { monitor_id: m1.id })).status).toBe(200);
    expect((await v1Get(admin.v1Token, { monitor_id: m1.id })).status).toBe(200);
    expect((await v1Get(admin.v1Token)).status).toBe(200);
  });
  it("400 when the monitor_id or token given is invalid", async () => {
    expectV1Failure(await v1Get(alice.v1Token, { monitor_id: "not-a-monitor" }), 400);
    expectV1Failure(await v1Get(alice.v1Token, { monitor_id: `${m1.id}0` }), 400);
    expectV1Failure(await v1Get(admin.v1Token, { monitor_id: hex() }), 400); // well-formed, unknown
    expectV1Failure(await v1Get("xyz", { monitor_id: m1.id }), 400);
    expectV1Failure(await v1Get(undefined, { monitor_id: m1.id }), 400);
  });
  it("400 when startTime / endTime are not integers", async () => {
    expectV1Failure(await v1Get(alice.v1Token, { monitor_id: m1.id, startTime: "yesterday" }), 400);
    expectV1Failure(await v1Get(alice.v1Token, { monitor_id: m1.id, endTime: "1.5" }), 400);
  });
  it("401 when the token is no session", async () => {
    expectV1Failure(await v1Get(hex(), { monitor_id: m1.id }), 401);
  });
  it("403 listing every monitor without an admin token, or another user's monitor", async () => {
    expectV1Failure(await v1Get(alice.v1Token), 403);
    expectV1Failure(await v1Get(bob.v1Token, { monitor_id: m1.id }), 403);
    expectV1Failure(await v1Get(m1.token, { monitor_id: m1.id }), 403);
  });
});

describe("POST /api/v1/monitors/update: 200 / 400 / 401 / 403", () => {
  it("200 for the monitor itself and an admin", async () => {
    await update(m1.token, m1.id, { air_flow: 1.25 });
    await update(admin.v1Token, m1.id, { air_flow: 1.5 });
  });
  it("400 when the monitor_id or token is invalid, or no measurements could be updated", async () => {
    const u = (json: Record<string, unknown>) => post("/api/v1/monitors/update", json);
    expectV1Failure(await u({ token: m1.token, ph: 7 }), 400); // no monitor_id
    expectV1Failure(await u({ token: m1.token, monitor_id: "abc", ph: 7 }), 400);
    expectV1Failure(await u({ token: admin.v1Token, monitor_id: hex(), ph: 7 }), 400); // unknown monitor
    expectV1Failure(await u({ token: m1.token, monitor_id: m1.id }), 400); // nothing to update
    expectV1Failure(await u({ token: m1.token, monitor_id: m1.id, ph: "seven" }), 400);
    expectV1Failure(await u({ token: "xyz", monitor_id: m1.id, ph: 7 }), 400);
    expectV1Failure(await u({ monitor_id: m1.id, ph: 7 }), 400); // no token
  });
  it("400 when the Content-Type is not application/json", async () => {
    const res = await fetch(`${base}/api/v1/monitors/update`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ token: m1.token, monitor_id: m1.id, ph: 7 }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ success: false, cause: expect.any(String) });
  });
  it("401 when the token is no session", async () => {
    expectV1Failure(await post("/api/v1/monitors/update", { token: hex(), monitor_id: m1.id, ph: 7 }), 401);
  });
  it("403 when the token doesn't match the monitor_id", async () => {
    expectV1Failure(await post("/api/v1/monitors/update", { token: m2.token, monitor_id: m1.id, ph: 7 }), 403);
    expectV1Failure(await post("/api/v1/monitors/update", { token: alice.v1Token, monitor_id: m1.id, ph: 7 }), 403);
  });
});

describe("POST /api/v1/monitors/add: 200 / 400 / 401 / 403", () => {
  const add = (json: Record<string, unknown>) => post("/api/v1/monitors/add", json);
  it("200: the monitor is created and can log in", async () => {
    const m = await addMonitor(bob.id);
    expect(m.token).toMatch(/^[0-9a-f]{32}$/);
  });
  it("400: missing arguments, an existing or invalid monitor_id, a missing or invalid user_id", async () => {
    const t = admin.v1Token;
    expectV1Failure(await add({ token: t, user_id: alice.id, monitor_id: hex() }), 400); // no password
    expectV1Failure(await add({ token: t, user_id: alice.id, password: "Pw-1234-long" }), 400); // no monitor_id
    expectV1Failure(await add({ token: t, monitor_id: hex(), password: "Pw-1234-long" }), 400); // no user_id
    expectV1Failure(await add({ token: t, user_id: alice.id, monitor_id: m1.id, password: "Pw-1234-long" }), 400);
    expectV1Failure(await add({ token: t, user_id: alice.id, monitor_id: "zz", password: "Pw-1234-long" }), 400);
    expectV1Failure(await add({ token: t, user_id: "not-a-uuid", monitor_id: hex(), password: "Pw-1234-long" }), 400);
    expectV1Failure(await add({ token: t, user_id: randomUUID(), monitor_id: hex(), password: "Pw-1234-long" }), 400);
  });
  it("401 when the token is no session", async () => {
    expectV1Failure(await add({ token: hex(), user_id: alice.id, monitor_id: hex(), password: "Pw-1234-long" }), 401);
  });
  it("403 for a non-admin", async () => {
    for (const token of [alice.v1Token, m1.token]) {
      expectV1Failure(await add({ token, user_id: alice.id, monitor_id: hex(), password: "Pw-1234-long" }), 403);
    }
  });
});

for (const action of ["reset", "delete"] as const) {
  describe(`POST /api/v1/monitors/${action}: 200 / 400 / 401 / 403`, () => {
    const call = (json: Record<string, unknown>) => post(`/api/v1/monitors/${action}`, json);
    it("200 for an admin", async () => {
      const m = await addMonitor(alice.id);
      await update(m.token, m.id, { ph: 5.5 });
      await getUntil(alice.v1Token, m.id, (d) => d.ph.value === 5.5);
      const res = await call({ token: admin.v1Token, monitor_id: m.id });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({ success: true, data: null });
      if (action === "reset") {
        // The data points are gone; the monitor stays.
        const data = await getUntil(alice.v1Token, m.id, (d) => d.ph.value === null);
        expectSeedShape(data);
        for (const k of MEASUREMENTS) expect(data[k]).toEqual({ value: null, history: {} });
      } else {
        expectV1Failure(await v1Get(admin.v1Token, { monitor_id: m.id }), 400);
        expectV1Failure(await call({ token: admin.v1Token, monitor_id: m.id }), 400);
      }
    });
    it("400 when arguments are missing or the monitor_id is invalid", async () => {
      expectV1Failure(await call({ token: admin.v1Token }), 400);
      expectV1Failure(await call({ token: admin.v1Token, monitor_id: "nope" }), 400);
      expectV1Failure(await call({ token: admin.v1Token, monitor_id: hex() }), 400); // unknown
      expectV1Failure(await call({ monitor_id: m1.id }), 400);
    });
    it("401 when the token is no session", async () => {
      expectV1Failure(await call({ token: hex(), monitor_id: m1.id }), 401);
    });
    it("403 for a non-admin", async () => {
      for (const token of [alice.v1Token, bob.v1Token, m1.token]) {
        expectV1Failure(await call({ token, monitor_id: m1.id }), 403);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// monitors/get: shape, round trip, filters, large images, CORS.
// ---------------------------------------------------------------------------------------------

describe("seed 002 data through /api/v1", () => {
  it("monitors/get has exactly the seed's shape, before and after data arrives", async () => {
    const m = await addMonitor(alice.id);
    const empty = await v1Get(alice.v1Token, { monitor_id: m.id });
    expect(empty.status).toBe(200);
    expect(Object.keys(empty.body).sort()).toEqual(["data", "success"]);
    expectSeedShape(empty.body.data);
    for (const k of MEASUREMENTS) expect(empty.body.data[k]).toEqual({ value: null, history: {} });
    expect(empty.body.data.foliage_feed).toBeNull();
    expect(empty.body.data.root_stream).toBeNull();

    const all = Object.fromEntries(MEASUREMENTS.map((k, i) => [k, i + 0.5]));
    await update(m.token, m.id, { ...all, foliage_feed: "aW1hZ2U=", root_stream: "c3RyZWFt" });
    const data = await getUntil(alice.v1Token, m.id, (d) => d.air_flow.value !== null);
    expectSeedShape(data);
    MEASUREMENTS.forEach((k, i) => {
      expect(data[k].value).toBe(i + 0.5);
      expect(Object.values(data[k].history)).toEqual([i + 0.5]);
    });
    expect(data.foliage_feed).toBe("aW1hZ2U=");
    expect(data.root_stream).toBe("c3RyZWFt");
  });

  it("monitors/get without monitor_id (admin): every monitor keyed by id, each with its owner", async () => {
    const res = await v1Get(admin.v1Token);
    expect(res.status).toBe(200);
    const data = res.body.data as Record<string, unknown>;
    expect(Object.keys(data)).toEqual(expect.arrayContaining([m1.id, m2.id]));
    for (const [id, monitor] of Object.entries(data)) {
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expectSeedShape(monitor, ["owner"]);
    }
    expect((data[m1.id] as { owner: string }).owner).toBe(alice.id);
    expect((data[m2.id] as { owner: string }).owner).toBe(bob.id);
  });

  it("update → get round trip: only the fields sent change; value is the latest, history keeps each point", async () => {
    const m = await addMonitor(alice.id);
    await update(m.token, m.id, { atmospheric_temp: 21.5, ph: 6.1 });
    let data = await getUntil(alice.v1Token, m.id, (d) => d.atmospheric_temp.value === 21.5);
    expect(data.ph.value).toBe(6.1);
    expect(data.reservoir_temp).toEqual({ value: null, history: {} });
    expect(data.foliage_feed).toBeNull();

    // Extra fields are ignored, `id` is the seed examples' name for monitor_id, an admin may update.
    const viaId = await post("/api/v1/monitors/update", { token: admin.v1Token, id: m.id, atmospheric_temp: 22, x: 1 });
    expect(viaId.status, JSON.stringify(viaId.body)).toBe(200);
    data = await getUntil(alice.v1Token, m.id, (d) => d.atmospheric_temp.value === 22);
    expect(Object.values(data.atmospheric_temp.history).sort()).toEqual([21.5, 22]);
    expect(data.ph.value).toBe(6.1);
    expect(Object.keys(data.ph.history)).toHaveLength(1);
  });

  it("startTime / endTime filter the history (ms timestamps)", async () => {
    const m = await addMonitor(alice.id);
    await update(m.token, m.id, { soil_moisture: 1 });
    await getUntil(alice.v1Token, m.id, (d) => d.soil_moisture.value === 1);
    await new Promise((r) => setTimeout(r, 25));
    await update(m.token, m.id, { soil_moisture: 2 });
    const data = await getUntil(alice.v1Token, m.id, (d) => Object.keys(d.soil_moisture.history).length === 2);
    const [k1, k2] = Object.keys(data.soil_moisture.history)
      .map(Number)
      .sort((a, b) => a - b) as [number, number];
    expect(k2 - k1).toBeGreaterThanOrEqual(2);
    expect(Math.abs(k2 - Date.now())).toBeLessThan(60_000); // milliseconds, not seconds
    const mid = Math.floor((k1 + k2) / 2);
    const history = async (q: Record<string, number>) => {
      const r = await v1Get(alice.v1Token, { monitor_id: m.id, ...q });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expectSeedShape(r.body.data);
      return r.body.data.soil_moisture.history as Record<string, number>;
    };
    expect(await history({ startTime: mid })).toEqual({ [String(k2)]: 2 });
    expect(await history({ endTime: mid })).toEqual({ [String(k1)]: 1 });
    expect(await history({ startTime: k1 - 1, endTime: k2 + 1 })).toEqual({ [String(k1)]: 1, [String(k2)]: 2 });
    expect(await history({ startTime: k2 + 1 })).toEqual({});
  });

  it("a foliage_feed of more than 1 MiB of base64 is accepted and returned", async () => {
    const m = await addMonitor(alice.id);
    const image = randomBytes(800_000).toString("base64");
    expect(image.length).toBeGreaterThan(1024 * 1024);
    await update(m.token, m.id, { foliage_feed: image, light_intensity: 300 });
    const data = await getUntil(alice.v1Token, m.id, (d) => d.foliage_feed !== null);
    expect(data.foliage_feed.length).toBe(image.length);
    expect(data.foliage_feed === image).toBe(true);
    expect(data.light_intensity.value).toBe(300);
  }, 60_000);

  it("a browser on another origin may POST monitors/update (CORS preflight)", async () => {
    const origin = "https://dashboard.example";
    const preflight = await fetch(`${base}/api/v1/monitors/update`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(["*", origin]).toContain(preflight.headers.get("access-control-allow-origin"));
    expect(preflight.headers.get("access-control-allow-methods") ?? "").toMatch(/POST/i);
    expect((preflight.headers.get("access-control-allow-headers") ?? "").toLowerCase()).toContain("content-type");

    const res = await fetch(`${base}/api/v1/monitors/update`, {
      method: "POST",
      headers: { origin, "content-type": "application/json" },
      body: JSON.stringify({ token: m1.token, monitor_id: m1.id, dissolved_oxygen: 8.2 }),
    });
    expect(res.status).toBe(200);
    expect(["*", origin]).toContain(res.headers.get("access-control-allow-origin"));
  });
});

// ---------------------------------------------------------------------------------------------
// /api/v2/monitors
// ---------------------------------------------------------------------------------------------

describe("/api/v2/monitors", () => {
  /** A whole hour, so series buckets are predictable. */
  const T0 = Date.UTC(2024, 0, 1, 0, 0, 0);
  const HOUR = 3_600_000;
  let monitor: MonitorCred;
  const v2 = (method: string, path: string, bearer: string, json?: unknown) =>
    http(base, method, path, { bearer, ...(json !== undefined ? { json } : {}) });

  beforeAll(async () => {
    const id = hex();
    const created = await v2("POST", "/api/v2/monitors", admin.bearer, {
      id,
      owner_id: alice.id,
      password: "V2-Monitor-Pw",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const login = await post("/api/v1/login/monitor", { monitor_id: id, password: "V2-Monitor-Pw" });
    expect(login.status).toBe(200);
    monitor = { id, password: "V2-Monitor-Pw", token: login.body.data.token };
    // Hour 0: 12 readings, atmospheric_temp 0..11 every 5 minutes; hour 1: 100, 110, 120.
    const readings = [
      ...Array.from({ length: 12 }, (_, i) => ({ timestamp: T0 + i * 300_000, atmospheric_temp: i })),
      ...[100, 110, 120].map((v, i) => ({ timestamp: T0 + HOUR + i * 600_000, atmospheric_temp: v })),
    ];
    for (const r of readings) {
      const res = await v2("POST", `/api/v2/monitors/${id}/readings`, monitor.token, r);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ stored: true, sequence: expect.any(Number), duplicate: false });
    }
    // Read-your-writes: each 200 above means stored, rollups and counters included.
    const after = await v2("GET", `/api/v2/monitors/${id}`, alice.bearer);
    expect(after.body.readingsStored).toBe(15);
    const { value } = await within(
      INGEST_MS,
      () => v2("GET", `/api/v2/monitors/${id}/readings?from=${T0}&to=${T0 + 2 * HOUR}`, alice.bearer),
      (r) => r.status === 200 && r.body.items.length === 15,
    );
    expect(value.body.items, JSON.stringify(value.body)).toHaveLength(15);
  }, 60_000);

  it("monitors: create (201), duplicate (409), get, list, others are refused", async () => {
    const got = await v2("GET", `/api/v2/monitors/${monitor.id}`, alice.bearer);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: monitor.id, ownerId: alice.id, readingsStored: 15 });
    const dup = await v2("POST", "/api/v2/monitors", admin.bearer, {
      id: monitor.id,
      owner_id: alice.id,
      password: "x-123456",
    });
    expect(dup.status).toBe(409);
    const list = await v2("GET", `/api/v2/monitors?owner_id=${alice.id}`, alice.bearer);
    expect(list.status).toBe(200);
    expect(list.body.items.map((m: { id: string }) => m.id)).toContain(monitor.id);
    // Pages (the list grows with the data): one at a time, by id, until nextCursor is null.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: HttpReply = await v2(
        "GET",
        `/api/v2/monitors?limit=1${cursor ? `&cursor=${cursor}` : ""}`,
        admin.bearer,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.body.items.map((m: { id: string }) => m.id));
      cursor = page.body.nextCursor;
    } while (cursor !== null && seen.length < 1_000);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining([monitor.id, m1.id, m2.id]));
    expect((await v2("GET", "/api/v2/monitors?limit=0", admin.bearer)).status).toBe(400);
    // Another user's monitor is indistinguishable from an unknown one (404, same body); another
    // user's list is an admin's scope (403 whatever the id); a monitor token reads nothing (403).
    const theirs = await v2("GET", `/api/v2/monitors/${monitor.id}`, bob.bearer);
    const unknown = await v2("GET", `/api/v2/monitors/${hex()}`, bob.bearer);
    expect(theirs.status).toBe(404);
    expect(theirs.body).toEqual(unknown.body);
    expect(theirs.body.error.code).toBe("not_found");
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}`, m2.token)).status).toBe(403);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}`, monitor.token)).status).toBe(403);
    expect((await v2("GET", `/api/v2/monitors?owner_id=${alice.id}`, bob.bearer)).status).toBe(403);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}`, admin.bearer)).status).toBe(200);
    expect((await v2("GET", `/api/v2/monitors/${hex()}`, admin.bearer)).status).toBe(404);
    expect((await v2("GET", "/api/v2/monitors/not-hex", admin.bearer)).status).toBe(400);
    expect((await http(base, "GET", `/api/v2/monitors/${monitor.id}`)).status).toBe(401);
  });

  it("readings: a bad reading is a 400, another monitor's id a 404 (as an unknown one), a user a 403", async () => {
    const path = `/api/v2/monitors/${monitor.id}/readings`;
    expect((await v2("POST", path, monitor.token, {})).status).toBe(400);
    expect((await v2("POST", path, monitor.token, { ph: "acid" })).status).toBe(400);
    expect((await v2("POST", path, monitor.token, { ph: 7, unknown_field: 1 })).status).toBe(400);
    const otherMonitor = await v2("POST", path, m2.token, { ph: 7 });
    expect(otherMonitor.status).toBe(404);
    expect(otherMonitor.body).toEqual(
      (await v2("POST", `/api/v2/monitors/${hex()}/readings`, m2.token, { ph: 7 })).body,
    );
    // Users never submit readings (only the monitor itself or an admin): 403 whatever the monitor.
    expect((await v2("POST", path, bob.bearer, { ph: 7 })).status).toBe(403);
    expect((await v2("POST", path, alice.bearer, { ph: 7 })).status).toBe(403);
  });

  it("latest: the newest value of each measurement with its time", async () => {
    const res = await v2("GET", `/api/v2/monitors/${monitor.id}/readings/latest`, alice.bearer);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.values.atmospheric_temp).toEqual({ value: 120, at: T0 + HOUR + 1_200_000 });
    expect(res.body.values.ph).toBeUndefined();
    expect(res.body.foliage_feed).toBeNull();
  });

  it("history: pages of `limit`, oldest first, continued with `after` until nextAfter is null", async () => {
    const seen: number[] = [];
    let after: number | null | undefined;
    let pages = 0;
    do {
      const q = `from=${T0}&to=${T0 + 2 * HOUR}&limit=4${after !== undefined ? `&after=${after}` : ""}`;
      const res = await v2("GET", `/api/v2/monitors/${monitor.id}/readings?${q}`, alice.bearer);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(4);
      for (const p of res.body.items as { at: number; values: Record<string, number> }[]) {
        seen.push(p.at);
        expect(Object.keys(p.values)).toEqual(["atmospheric_temp"]);
      }
      after = res.body.nextAfter;
      pages++;
    } while (after !== null && pages < 20);
    expect(pages).toBeGreaterThanOrEqual(4);
    expect(seen).toHaveLength(15);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(15);
    // A window narrows it; bad query values are 400s.
    const narrow = await v2(
      "GET",
      `/api/v2/monitors/${monitor.id}/readings?from=${T0 + HOUR}&to=${T0 + 2 * HOUR}`,
      alice.bearer,
    );
    expect(narrow.body.items.map((p: { values: { atmospheric_temp: number } }) => p.values.atmospheric_temp)).toEqual([
      100, 110, 120,
    ]);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}/readings?limit=abc`, alice.bearer)).status).toBe(400);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}/readings?from=1.5`, alice.bearer)).status).toBe(400);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}/readings`, bob.bearer)).status).toBe(404);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}/readings/latest`, bob.bearer)).status).toBe(404);
    expect((await v2("GET", `/api/v2/monitors/${monitor.id}/readings`, monitor.token)).status).toBe(403);
  });

  it("series: avg/min/max/count per interval, or one aggregate as {start, value}", async () => {
    const path = (extra = "") =>
      `/api/v2/monitors/${monitor.id}/series?measurement=atmospheric_temp&from=${T0}&to=${T0 + 2 * HOUR - 1}&interval=1h${extra}`;
    const all = await v2("GET", path(), alice.bearer);
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(all.body).toMatchObject({ measurement: "atmospheric_temp", interval: "1h" });
    const points = (all.body.points as { start: number; count: number }[]).filter((p) => p.count > 0);
    expect(points).toHaveLength(2);
    expect(points[0]).toMatchObject({ start: T0, count: 12, min: 0, max: 11 });
    expect((points[0] as unknown as { avg: number }).avg).toBeCloseTo(5.5);
    expect(points[1]).toMatchObject({ start: T0 + HOUR, count: 3, min: 100, max: 120 });
    expect((points[1] as unknown as { avg: number }).avg).toBeCloseTo(110);

    const expected = { avg: [5.5, 110], min: [0, 100], max: [11, 120], count: [12, 3] } as const;
    for (const [aggregate, values] of Object.entries(expected)) {
      const res = await v2("GET", path(`&aggregate=${aggregate}`), alice.bearer);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.aggregate).toBe(aggregate);
      const got = (res.body.points as { start: number; value: number | null }[]).filter(
        (p) => p.start === T0 || p.start === T0 + HOUR,
      );
      expect(got.map((p) => Object.keys(p).sort())).toEqual([
        ["start", "value"],
        ["start", "value"],
      ]);
      got.forEach((p, i) => {
        expect(p.value, aggregate).toBeCloseTo(values[i] as number);
      });
    }
    expect((await v2("GET", path("&aggregate=median"), alice.bearer)).status).toBe(400);
    expect((await v2("GET", path().replace("interval=1h", "interval=7s"), alice.bearer)).status).toBe(400);
    expect((await v2("GET", path().replace("atmospheric_temp", "humidity"), alice.bearer)).status).toBe(400);
    expect((await v2("GET", path(), bob.bearer)).status).toBe(404);
  });

  it("readings.csv: a streamed attachment, header row then one row per reading", async () => {
    const from = T0;
    const to = T0 + 2 * HOUR;
    const res = await fetch(`${base}/api/v2/monitors/${monitor.id}/readings.csv?from=${from}&to=${to}`, {
      headers: { authorization: `Bearer ${alice.bearer}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${monitor.id}-${from}-${to}.csv"`);
    const lines = (await res.text()).trimEnd().split("\n");
    expect(lines[0]).toBe(CSV_COLUMNS.join(","));
    expect(lines[0]).toBe(`timestamp,iso_time,${MEASUREMENTS.join(",")}`);
    expect(lines).toHaveLength(16);
    expect(lines[1]).toBe(`${T0},${new Date(T0).toISOString()},0,,,,,,,`);
    expect(lines[15]).toBe(`${T0 + HOUR + 1_200_000},${new Date(T0 + HOUR + 1_200_000).toISOString()},120,,,,,,,`);

    // Errors before the first byte are ordinary JSON errors.
    const denied = await http(base, "GET", `/api/v2/monitors/${monitor.id}/readings.csv`, { bearer: bob.bearer });
    expect(denied.status).toBe(404);
    expect(denied.body.error.code).toBe("not_found");
  });

  it("readings.csv spans many history pages (more than 1000 readings)", async () => {
    const id = hex();
    const created = await v2("POST", "/api/v2/monitors", admin.bearer, { id, owner_id: bob.id, password: "Many-Pw-1" });
    expect(created.status).toBe(201);
    const T1 = Date.UTC(2024, 1, 1);
    const N = 2_050;
    // Straight into the readings stream (as devices publish): this test is about CSV paging.
    const nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    const js = jetstream(nc);
    for (let start = 0; start < N; start += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, N - start) }, (_, k) =>
          js.publish(
            deviceSubjects.readings(id),
            JSON.stringify({ timestamp: T1 + (start + k) * 1_000, ph: (start + k) / 100 }),
          ),
        ),
      );
    }
    await nc.close();
    const { value } = await within(
      30_000,
      () => v2("GET", `/api/v2/monitors/${id}`, admin.bearer),
      (r) => r.status === 200 && r.body.readingsStored === N,
    );
    expect(value.body.readingsStored).toBe(N);

    const res = await fetch(`${base}/api/v2/monitors/${id}/readings.csv?from=${T1}&to=${T1 + N * 1_000}`, {
      headers: { authorization: `Bearer ${bob.bearer}` },
    });
    expect(res.status).toBe(200);
    const rows = (await res.text()).trimEnd().split("\n").slice(1);
    expect(rows).toHaveLength(N);
    const times = rows.map((r) => Number(r.split(",")[0]));
    expect(times).toEqual(Array.from({ length: N }, (_, i) => T1 + i * 1_000));
    const phColumn = CSV_COLUMNS.indexOf("ph");
    expect(rows[N - 1]?.split(",")[phColumn]).toBe(String((N - 1) / 100));
  }, 90_000);
});
