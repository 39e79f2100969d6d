/**
 * The telemetry service as a real process (with a real auth process) over real NATS JetStream and
 * FerretDB/MongoDB: monitors through the catalog, readings the way devices send them.
 */
import { randomBytes } from "node:crypto";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  authCatalog,
  authEvents,
  DEAD_LETTER_STREAM,
  DeadLetter,
  deadLetterSubject,
  deviceSubjects,
  MEASUREMENTS,
  type Principal,
  type RequestOf,
  type TrellisError,
  telemetryCatalog,
  telemetryEvents,
  type V1MonitorData,
} from "@trellis/contracts";
import { decodeJson, encodeJson, readAll, request, requestStream } from "@trellis/runtime";
import {
  failure as failureOf,
  poll,
  type ServiceProcess,
  serviceEnvFrom,
  startService,
  uniqueSuffix,
} from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import jwt from "jsonwebtoken";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const stack = useFileStack();
const suffix = uniqueSuffix();
const ADMIN = { username: `root-${suffix}`, password: "Correct-Horse-Battery-9" };
const TELEMETRY_DB = `t_tel_${suffix}`;
const client = { address: "10.9.0.1" };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// Functions: the file's NATS server is known only once beforeAll has started it.
const authEnv = () => ({
  ...serviceEnvFrom(stack),
  MONGO_DB: `t_tel_auth_${suffix}`,
  REDIS_KEY_PREFIX: `t:${suffix}:tel-auth:`,
  TRELLIS_ADMIN_USERNAME: ADMIN.username,
  TRELLIS_ADMIN_PASSWORD: ADMIN.password,
  INSTANCE_ID: `auth-${suffix}`,
});
const telemetryEnv = (n: number) => ({
  ...serviceEnvFrom(stack),
  MONGO_DB: TELEMETRY_DB,
  INSTANCE_ID: `telemetry-${suffix}-${n}`,
  LOG_LEVEL: "debug",
  // Small batches so that two instances side by side both get work.
  INGEST_BATCH_SIZE: "20",
  INGEST_ROUND_SIZE: "40",
  INGEST_MAX_WAIT_MS: "50",
});

let auth: ServiceProcess;
let telemetry: ServiceProcess;
let nc: NatsConnection;
let js: JetStreamClient;
let mongo: MongoClient;
let db: Db;
let admin: Principal;
const rejections: { monitorId: string; reason: string }[] = [];
let rejectedSub: Subscription;

const monitorId = () => randomBytes(16).toString("hex");
const password = () => `Pw-${randomBytes(8).toString("hex")}`;

const failure = (promise: Promise<unknown>) => failureOf<TrellisError>(promise);

/** Polls until `probe` returns a value that satisfies `ok`; returns the last value either way. */
const until = async <T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> =>
  (await poll(probe, ok, { timeoutMs, intervalMs: 50 })).value;

/** Seed 002 monitors/get is a stream (it grows with the data): read it whole. */
const v1Get = async (payload: RequestOf<typeof telemetryCatalog.v1Get>): Promise<unknown> =>
  JSON.parse((await readAll((await requestStream(nc, telemetryCatalog.v1Get, payload)).chunks)).toString());
/** Readings stored for a monitor, a reading stored twice counted twice. */
const storedCount = async (id: string) =>
  (await db.collection<{ count: number }>("reading_buckets").find({ monitorId: id }).toArray()).reduce(
    (n, d) => n + d.count,
    0,
  );
const waitForCount = async (id: string, n: number, timeoutMs?: number) =>
  until(
    () => storedCount(id),
    (c) => c >= n,
    timeoutMs,
  );

async function registerUser() {
  const account = { username: `u-${randomBytes(4).toString("hex")}`, password: password() };
  const user = await request(nc, authCatalog.register, account);
  const { token } = await request(nc, authCatalog.v1LoginUser, { ...account, client });
  const { principal } = await request(nc, authCatalog.v1Resolve, { token });
  return { id: user.id, principal };
}

async function addMonitor(ownerId: string) {
  const id = monitorId();
  const pw = password();
  await request(nc, telemetryCatalog.addMonitor, { actor: admin, monitorId: id, ownerId, password: pw });
  return { id, password: pw };
}

async function monitorPrincipal(id: string, pw: string): Promise<Principal> {
  const { token } = await request(nc, authCatalog.v1LoginMonitor, { monitorId: id, password: pw, client });
  return (await request(nc, authCatalog.v1Resolve, { token })).principal;
}

const publishReading = (id: string, reading: unknown, msgID?: string) =>
  js.publish(deviceSubjects.readings(id), encodeJson(reading), msgID ? { msgID } : undefined);
const publishRaw = (id: string, text: string) =>
  js.publish(deviceSubjects.readings(id), new TextEncoder().encode(text));

const fullReading = (base: number) => Object.fromEntries(MEASUREMENTS.map((m, i) => [m, base + i]));

beforeAll(async () => {
  nc = await connect({
    servers: stack.natsUrl,
    user: stack.natsUser,
    pass: stack.natsPassword,
  });
  js = jetstream(nc);
  rejectedSub = nc.subscribe(telemetryEvents.readingRejected.subject, {
    callback: (_err, msg) => void rejections.push(telemetryEvents.readingRejected.schema.parse(decodeJson(msg.data))),
  });
  await nc.flush();
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  db = mongo.db(TELEMETRY_DB);
  [auth, telemetry] = await Promise.all([startService("auth", authEnv()), startService("telemetry", telemetryEnv(1))]);
  const grant = await request(nc, authCatalog.passwordGrant, { ...ADMIN, client });
  const claims = jwt.decode(grant.access_token) as { sub: string; sid: string; name: string; role: "admin" };
  admin = { kind: "user", userId: claims.sub, username: claims.name, role: claims.role, sessionId: claims.sid };
});

afterAll(async () => {
  rejectedSub?.unsubscribe();
  await Promise.all([telemetry?.stop(), auth?.stop()]);
  await nc?.close();
  await mongo?.close();
});

describe("monitors", () => {
  it("adds a monitor for a user (admin only); conflict, unknown owner and non-admins refused", async () => {
    const owner = await registerUser();
    const id = monitorId();
    const pw = password();
    const added = await request(nc, telemetryCatalog.addMonitor, {
      actor: admin,
      monitorId: id,
      ownerId: owner.id,
      password: pw,
    });
    expect(added).toMatchObject({ id, ownerId: owner.id, lastReadingAt: null, readingsStored: 0, readingsRejected: 0 });
    // The monitor can log in with its credentials, kept by auth.
    expect((await monitorPrincipal(id, pw)).kind).toBe("monitor");

    const again = { actor: admin, monitorId: id.toUpperCase(), ownerId: owner.id, password: password() };
    expect((await failure(request(nc, telemetryCatalog.addMonitor, again))).code).toBe("conflict");
    const unknownOwner = { actor: admin, monitorId: monitorId(), ownerId: crypto.randomUUID(), password: password() };
    // An unknown owner is not_found (v2 answers the 404 its contract documents; the v1 layer keeps
    // seed 002's 400 for monitors/add).
    expect((await failure(request(nc, telemetryCatalog.addMonitor, unknownOwner))).code).toBe("not_found");
    const byUser = { actor: owner.principal, monitorId: monitorId(), ownerId: owner.id, password: password() };
    expect((await failure(request(nc, telemetryCatalog.addMonitor, byUser))).code).toBe("forbidden");
    // A refused add leaves no monitor behind.
    const list = await request(nc, telemetryCatalog.listMonitors, { actor: admin, ownerId: owner.id });
    expect(list.items.map((m) => m.id)).toEqual([id]);
  });

  it("shows a monitor to its owner and admins only, without revealing unknown ids to users", async () => {
    const owner = await registerUser();
    const other = await registerUser();
    const { id } = await addMonitor(owner.id);
    const get = (actor: Principal, monitor = id) =>
      request(nc, telemetryCatalog.getMonitor, { actor, monitorId: monitor });
    expect((await get(owner.principal)).id).toBe(id);
    expect((await get(admin)).ownerId).toBe(owner.id);
    // Another user's monitor and an unknown id answer alike: not_found (v2's rule; v1 keeps 403,
    // tests/telemetry-http.int.test.ts).
    expect((await failure(get(other.principal))).code).toBe("not_found");
    expect((await failure(get(owner.principal, monitorId()))).code).toBe("not_found");
    expect((await failure(get(admin, monitorId()))).code).toBe("not_found");

    const mine = await request(nc, telemetryCatalog.listMonitors, { actor: owner.principal });
    expect(mine.items.map((m) => m.id)).toEqual([id]);
    const theirs = request(nc, telemetryCatalog.listMonitors, { actor: other.principal, ownerId: owner.id });
    expect((await failure(theirs)).code).toBe("forbidden");
    const all = await request(nc, telemetryCatalog.listMonitors, { actor: admin });
    expect(all.items.map((m) => m.id)).toContain(id);
  });
});

describe("ingest", () => {
  it("stores readings devices publish to JetStream, queryable in order", async () => {
    const owner = await registerUser();
    const { id } = await addMonitor(owner.id);
    const t0 = Date.now() - 10_000;
    for (let i = 0; i < 5; i++) await publishReading(id, { ...fullReading(i), timestamp: t0 + i * 1000 });
    expect(await waitForCount(id, 5)).toBe(5);

    const history = await request(nc, telemetryCatalog.history, { actor: owner.principal, monitorId: id, limit: 3 });
    expect(history.items.map((p) => p.at)).toEqual([t0, t0 + 1000, t0 + 2000]);
    expect(history.items[0]?.values.ph).toBe(5);
    expect(history.nextAfter).toBe(t0 + 2000);
    const rest = await request(nc, telemetryCatalog.history, {
      actor: owner.principal,
      monitorId: id,
      after: history.nextAfter ?? 0,
    });
    expect(rest.items.map((p) => p.at)).toEqual([t0 + 3000, t0 + 4000]);
    expect(rest.nextAfter).toBeNull();

    const latest = await until(
      () => request(nc, telemetryCatalog.latest, { actor: owner.principal, monitorId: id }),
      (l) => l.values.ph?.value === 9,
    );
    expect(latest.values.ph).toEqual({ value: 9, at: t0 + 4000 });
    // Counters follow the readings within the same batch write.
    const monitor = await until(
      () => request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id }),
      (m) => m.readingsStored === 5,
    );
    expect(monitor.readingsStored).toBe(5);
    expect(monitor.lastReadingAt).toBe(new Date(t0 + 4000).toISOString());
  });

  it("stores a retried publish (same Nats-Msg-Id) once", async () => {
    const owner = await registerUser();
    const { id } = await addMonitor(owner.id);
    const msgID = `retry-${suffix}-${id}`;
    const first = await publishReading(id, { ph: 6.1 }, msgID);
    const second = await publishReading(id, { ph: 6.1 }, msgID);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    await publishReading(id, { ph: 6.2 }); // a later reading: once it is stored, the first has been handled
    expect(await waitForCount(id, 2)).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(await storedCount(id)).toBe(2);
  });

  it("stores every reading published while telemetry was stopped once it is back", async () => {
    const owner = await registerUser();
    const { id } = await addMonitor(owner.id);
    // A graceful stop: the ingest finishes its batch before MongoDB closes, then NATS drains.
    expect(await telemetry.stop()).toBe(143);
    expect(telemetry.logs.some((l) => l.msg === "shutdown complete")).toBe(true);
    const base = Date.now() - HOUR;
    for (let i = 0; i < 50; i++) await publishReading(id, { air_flow: i, timestamp: base + i });
    telemetry = await startService("telemetry", telemetryEnv(1));
    expect(await waitForCount(id, 50, 15_000)).toBe(50);
    const monitor = await until(
      () => request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id }),
      (m) => m.readingsStored === 50,
    );
    expect(monitor.readingsStored).toBe(50);
  });

  it("rejects invalid readings with a reason, counted and never stored", async () => {
    const owner = await registerUser();
    const { id } = await addMonitor(owner.id);
    const unknown = monitorId();
    const before = rejections.length;
    await publishRaw(id, '{"ph":7,"colour":"green"}');
    await publishRaw(id, '{"ph":"seven"}');
    await publishRaw(id, '{"ph":1e999}');
    await publishRaw(id, '{"timestamp":1700000000000}');
    await publishRaw(id, "{not json");
    await publishReading(unknown, { ph: 7 });
    const seen = await until(
      async () => rejections.slice(before),
      (r) => r.length >= 6,
    );
    const reasons = seen.filter((r) => r.monitorId === id).map((r) => r.reason);
    expect(reasons).toHaveLength(5);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Unrecognized key/),
        expect.stringMatching(/ph: must be a number/),
        expect.stringMatching(/ph: must be a/),
        expect.stringMatching(/no measurements could be updated/),
        expect.stringMatching(/not valid JSON/),
      ]),
    );
    expect(seen.find((r) => r.monitorId === unknown)?.reason).toMatch(/monitor_id is invalid/);
    expect(await storedCount(id)).toBe(0);
    const monitor = await until(
      () => request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id }),
      (m) => m.readingsRejected === 5,
    );
    expect(monitor).toMatchObject({ readingsStored: 0, readingsRejected: 5, lastReadingAt: null });
    expect(telemetry.logs.some((l) => l.msg === "reading rejected" && l.level === "warn")).toBe(true);
  });

  it("submitReading feeds the same pipeline (the monitor itself or an admin)", async () => {
    const owner = await registerUser();
    const { id, password: pw } = await addMonitor(owner.id);
    const other = await addMonitor(owner.id);
    const device = await monitorPrincipal(id, pw);
    const submit = (actor: Principal, reading: unknown, monitor = id) =>
      request(nc, telemetryCatalog.submitReading, { actor, monitorId: monitor, reading: reading as never });

    const reply = await submit(device, { ph: 6.8, foliage_feed: "x".repeat(100_000) });
    expect(reply).toMatchObject({ stored: true, sequence: expect.any(Number), duplicate: false });
    await submit(admin, { electrical_conductivity: 1.2 });
    expect(await waitForCount(id, 2)).toBe(2);
    const otherDevice = await monitorPrincipal(other.id, other.password);
    expect((await failure(submit(otherDevice, { ph: 1 }))).code).toBe("not_found");
    expect((await failure(submit(owner.principal, { ph: 1 }))).code).toBe("forbidden");
    const invalid = await failure(submit(device, { foo: 1 }));
    expect(invalid.code).toBe("invalid_argument");
    expect((await failure(submit(device, {}))).message).toMatch(/no measurements could be updated/);
    expect((await failure(submit(admin, { ph: 1 }, monitorId()))).code).toBe("not_found");

    const v1 = await until(
      () => v1Get({ actor: admin, monitorId: id }),
      (d) => (d as { electrical_conductivity: { value: number | null } }).electrical_conductivity.value !== null,
    );
    expect(v1).toMatchObject({ ph: { value: 6.8 }, electrical_conductivity: { value: 1.2 } });
    expect((v1 as { foliage_feed: string }).foliage_feed).toHaveLength(100_000);
    const latest = await request(nc, telemetryCatalog.latest, { actor: owner.principal, monitorId: id });
    expect(Object.keys(latest.values).sort()).toEqual(["electrical_conductivity", "ph"]);
    expect(latest.foliage_feed).toHaveLength(100_000);
    expect(latest.root_stream).toBeNull();
  });
});

describe("compatibility monitors/get", () => {
  it("returns the seed 002 shape with ms-keyed history and startTime/endTime filters", async () => {
    const owner = await registerUser();
    const other = await registerUser();
    const { id, password: pw } = await addMonitor(owner.id);
    const t0 = 1_700_000_000_000;
    await publishReading(id, { ph: 6, atmospheric_temp: 20, timestamp: t0 });
    await publishReading(id, { ph: 7, timestamp: t0 + 1000 });
    await publishReading(id, { ph: 8, root_stream: "stream", timestamp: t0 + 2000 });
    await waitForCount(id, 3);
    const get = (actor: Principal, extra: Record<string, number | string> = {}) =>
      v1Get({ actor, monitorId: id, ...extra });

    const data = (await until(
      () => get(owner.principal),
      (d) => (d as { root_stream: string | null }).root_stream === "stream",
    )) as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual([...MEASUREMENTS, "foliage_feed", "root_stream"].sort());
    expect(data.ph).toEqual({ value: 8, history: { [t0]: 6, [t0 + 1000]: 7, [t0 + 2000]: 8 } });
    expect(data.atmospheric_temp).toEqual({ value: 20, history: { [t0]: 20 } });
    expect(data.air_flow).toEqual({ value: null, history: {} });
    expect(data.foliage_feed).toBeNull();
    expect(data.root_stream).toBe("stream");

    const windowed = (await get(owner.principal, { startTime: t0 + 1000, endTime: t0 + 2000 })) as V1MonitorData;
    expect(windowed.ph?.history).toEqual({ [t0 + 1000]: 7, [t0 + 2000]: 8 });
    // Seconds from older clients work too.
    const inSeconds = (await get(owner.principal, { endTime: (t0 + 1000) / 1000 })) as V1MonitorData;
    expect(inSeconds.ph?.history).toEqual({ [t0]: 6, [t0 + 1000]: 7 });

    expect((await failure(get(other.principal))).code).toBe("forbidden");
    expect((await failure(get(await monitorPrincipal(id, pw)))).code).toBe("forbidden");
    const unknownAsAdmin = v1Get({ actor: admin, monitorId: monitorId() });
    expect((await failure(unknownAsAdmin)).code).toBe("not_found");
    const unknownAsUser = v1Get({ actor: owner.principal, monitorId: monitorId() });
    expect((await failure(unknownAsUser)).code).toBe("forbidden");
    expect((await failure(v1Get({ actor: owner.principal }))).code).toBe("forbidden");

    const all = (await v1Get({ actor: admin })) as Record<string, Record<string, unknown>>;
    expect(all[id]).toMatchObject({ owner: owner.id, ph: { value: 8 }, root_stream: "stream" });
  });
});

describe("series", () => {
  it("aggregates avg/min/max/count per minute and per hour from rollups", async () => {
    const owner = await registerUser();
    const { id } = await addMonitor(owner.id);
    const h = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const points: [number, number][] = [
      [h + 5_000, 1],
      [h + 30_000, 3],
      [h + MINUTE + 1, 5],
      [h + HOUR + 2 * MINUTE, 10],
      [h + HOUR + 2 * MINUTE + 59_999, 20],
    ];
    for (const [timestamp, ph] of points) await publishReading(id, { ph, timestamp });
    await waitForCount(id, points.length);
    const series = (interval: string) =>
      request(nc, telemetryCatalog.series, {
        actor: owner.principal,
        monitorId: id,
        measurement: "ph",
        from: h,
        to: h + 2 * HOUR,
        interval,
      });
    const perMinute = await until(
      () => series("1m"),
      (s) => s.points.reduce((n, p) => n + p.count, 0) === points.length,
    );
    expect(perMinute.points).toEqual([
      { start: h, count: 2, avg: 2, min: 1, max: 3 },
      { start: h + MINUTE, count: 1, avg: 5, min: 5, max: 5 },
      { start: h + HOUR + 2 * MINUTE, count: 2, avg: 15, min: 10, max: 20 },
    ]);
    expect((await series("1h")).points).toEqual([
      { start: h, count: 3, avg: 3, min: 1, max: 5 },
      { start: h + HOUR, count: 2, avg: 15, min: 10, max: 20 },
    ]);
    const none = await request(nc, telemetryCatalog.series, {
      actor: owner.principal,
      monitorId: id,
      measurement: "air_flow",
      from: h,
      to: h + HOUR,
      interval: "1m",
    });
    expect(none.points).toEqual([]);
    const tooMany = request(nc, telemetryCatalog.series, {
      actor: owner.principal,
      monitorId: id,
      measurement: "ph",
      from: 0,
      to: 20_000 * MINUTE,
      interval: "1m",
    });
    expect((await failure(tooMany)).code).toBe("invalid_argument");
  });
});

describe("reset and delete", () => {
  it("reset removes readings and rollups and keeps the monitor; delete removes it and its credentials", async () => {
    const owner = await registerUser();
    const { id, password: pw } = await addMonitor(owner.id);
    await publishReading(id, { ph: 7, timestamp: Date.now() - 5_000 });
    await waitForCount(id, 1);
    await until(
      () => request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id }),
      (m) => m.readingsStored === 1,
    );

    const byUser = request(nc, telemetryCatalog.resetMonitor, { actor: owner.principal, monitorId: id });
    expect((await failure(byUser)).code).toBe("forbidden");
    await request(nc, telemetryCatalog.resetMonitor, { actor: admin, monitorId: id });
    expect(await storedCount(id)).toBe(0);
    expect(await db.collection("rollups").countDocuments({ monitorId: id })).toBe(0);
    const reset = await request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id });
    expect(reset).toMatchObject({ readingsStored: 0, lastReadingAt: null });
    const v1 = (await v1Get({ actor: admin, monitorId: id })) as Record<string, unknown>;
    expect(v1.ph).toEqual({ value: null, history: {} });
    const unknownReset = request(nc, telemetryCatalog.resetMonitor, { actor: admin, monitorId: monitorId() });
    expect((await failure(unknownReset)).code).toBe("not_found");

    await publishReading(id, { ph: 8 });
    await waitForCount(id, 1);
    const deleted: string[] = [];
    const sub = nc.subscribe(telemetryEvents.monitorDeleted.subject, {
      callback: (_e, msg) =>
        void deleted.push(telemetryEvents.monitorDeleted.schema.parse(decodeJson(msg.data)).monitorId),
    });
    await nc.flush();
    await request(nc, telemetryCatalog.deleteMonitor, { actor: admin, monitorId: id });
    const gone = request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id });
    expect((await failure(gone)).code).toBe("not_found");
    expect(await storedCount(id)).toBe(0);
    expect(await db.collection("rollups").countDocuments({ monitorId: id })).toBe(0);
    const login = request(nc, authCatalog.v1LoginMonitor, { monitorId: id, password: pw, client });
    expect((await failure(login)).code).toBe("unauthenticated");
    await until(
      async () => deleted,
      (d) => d.includes(id),
    );
    expect(deleted).toContain(id);
    sub.unsubscribe();
    const again = request(nc, telemetryCatalog.deleteMonitor, { actor: admin, monitorId: id });
    expect((await failure(again)).code).toBe("not_found");
  });
});

describe("cascade", () => {
  it("removes the monitors of a user deleted while telemetry was down, once it is back", async () => {
    const owner = await registerUser();
    const a = await addMonitor(owner.id);
    const b = await addMonitor(owner.id);
    await publishReading(a.id, { ph: 7 });
    await waitForCount(a.id, 1);
    await telemetry.stop();
    await request(nc, authCatalog.deleteUser, { actor: admin, userId: owner.id });
    telemetry = await startService("telemetry", telemetryEnv(1));
    const left = await until(
      () => db.collection("monitors").countDocuments({ ownerId: owner.id }),
      (n) => n === 0,
    );
    expect(left).toBe(0);
    expect(await storedCount(a.id)).toBe(0);
    const get = request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: b.id });
    expect((await failure(get)).code).toBe("not_found");
  });

  it("dead-letters a malformed user_deleted event and goes on with the next one", async () => {
    const jsm = await jetstreamManager(nc);
    const malformed = await js.publish(authEvents.userDeleted.subject, encodeJson({ userId: "not-a-uuid" }));
    const owner = await registerUser();
    await addMonitor(owner.id);
    await request(nc, authCatalog.deleteUser, { actor: admin, userId: owner.id });
    const left = await until(
      () => db.collection("monitors").countDocuments({ ownerId: owner.id }),
      (n) => n === 0,
    );
    expect(left).toBe(0);

    const subject = deadLetterSubject("telemetry", "telemetry-user-deleted");
    const record = await until(
      async () => {
        const stored = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { last_by_subj: subject }).catch(() => null);
        return stored ? DeadLetter.parse(stored.json()) : null;
      },
      (r) => r?.streamSequence === malformed.seq,
    );
    expect(record).toMatchObject({
      stream: "AUTH_EVENTS",
      subject: authEvents.userDeleted.subject,
      kind: "schema_violation",
      deliveryCount: 1,
      payload: '{"userId":"not-a-uuid"}',
    });
    expect(record?.reason).toMatch(/userId/);
    expect(telemetry.logs.some((l) => l.msg === "message dead-lettered" && l.seq === malformed.seq)).toBe(true);
  });
});

describe("scaling", () => {
  it("two instances side by side share the ingest", async () => {
    const second = await startService("telemetry", telemetryEnv(2));
    try {
      const owner = await registerUser();
      const { id } = await addMonitor(owner.id);
      const base = Date.now() - HOUR;
      await Promise.all(Array.from({ length: 300 }, (_, i) => publishReading(id, { ph: i, timestamp: base + i })));
      expect(await waitForCount(id, 300, 15_000)).toBe(300);
      const wrote = (p: ServiceProcess) => p.logs.some((l) => l.msg === "readings round written");
      expect(wrote(second) && wrote(telemetry)).toBe(true);
      // Both instances updated the same monitor document: no counter update may be lost.
      const monitor = await until(
        () => request(nc, telemetryCatalog.getMonitor, { actor: admin, monitorId: id }),
        (m) => m.readingsStored === 300,
      );
      expect(monitor.readingsStored).toBe(300);
    } finally {
      await second.stop();
    }
  });
});
