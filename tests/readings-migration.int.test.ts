/**
 * Readings stored by the version before buckets (one document each, collection `readings`) are
 * migrated on start, resumably: readings go in through the real pipeline, every read API's answer
 * is recorded, the storage is rewritten as the previous version's store code wrote it, then
 * telemetry starts, is killed (SIGKILL) in the middle of the migration, starts again and finishes
 * it; every answer must be what it was, and no reading stored twice.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects, READINGS_CONSUMER, READINGS_STREAM } from "@trellis/contracts";
import { spawnService, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pointsOf } from "../services/telemetry/src/domain/buckets.ts";
import { BucketReadingsStore } from "../services/telemetry/src/store/reading-buckets.ts";
import { ReadingDocsStore } from "../services/telemetry/src/store/reading-docs.ts";
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
import { storedReadings } from "./support/readings.ts";

const stack = useFileStack();
const T0 = Date.UTC(2025, 0, 6, 9);
const PER_MONITOR = 400;

let platform: Platform;
let mongo: MongoClient;
let db: Db;
let nc: NatsConnection;
let admin: Tokens;
let owner: Tokens & { id: string };
const monitorIds: string[] = [];

/** Every read answer that comes from stored readings (and the rollups beside them). */
async function answers(): Promise<Record<string, unknown>> {
  const base = platform.base;
  const out: Record<string, unknown> = {};
  const get = async (path: string, bearer = owner.bearer) => {
    const res = await http(base, "GET", path, { bearer });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
    return res.body;
  };
  for (const id of monitorIds) {
    // Every page of the v2 history, small pages so cursors cross bucket boundaries.
    const pages: unknown[] = [];
    let after: number | null | undefined;
    do {
      const body = (await get(
        `/api/v2/monitors/${id}/readings?limit=97${after === undefined ? "" : `&after=${after}`}`,
      )) as { items: unknown[]; nextAfter: number | null };
      pages.push(body);
      after = body.nextAfter;
    } while (after !== null);
    out[`v2 pages ${id}`] = pages;
    out[`v2 window ${id}`] = await get(
      `/api/v2/monitors/${id}/readings?from=${T0 + 1_234_567}&to=${T0 + 5_000_000}&limit=1000`,
    );
    const csv = await fetch(`${base}/api/v2/monitors/${id}/readings.csv?from=${T0}&to=${T0 + 10 * 3_600_000}`, {
      headers: { authorization: `Bearer ${owner.bearer}` },
    });
    expect(csv.status).toBe(200);
    out[`csv ${id}`] = await csv.text();
    out[`series ${id}`] = await get(
      `/api/v2/monitors/${id}/series?measurements=ph:avg,ph:last,electrical_conductivity:max&from=${T0}&to=${T0 + 3 * 3_600_000}&interval=15m&fill=null`,
    );
    out[`monitor ${id}`] = await get(`/api/v2/monitors/${id}`);
    for (const q of ["", `&startTime=${T0 + 600_000}&endTime=${T0 + 2_400_000}`]) {
      const v1 = await http(base, "GET", `/api/v1/monitors/get?token=${owner.v1Token}&monitor_id=${id}${q}`);
      expect(v1.status).toBe(200);
      out[`v1 ${id} ${q}`] = v1.body;
    }
  }
  return out;
}

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth", "telemetry"],
    extraEnv: { READINGS_MIGRATION_BATCH: "50" },
  });
  admin = await loginBoth(platform.base, ADMIN.username, ADMIN.password);
  owner = await registerWithTokens(platform.base, platform.suffix, "migration-owner");
  for (let i = 0; i < 2; i++) monitorIds.push((await createMonitor(platform.base, admin.bearer, owner.id)).id);
  mongo = await MongoClient.connect(stack.mongoUrl);
  db = mongo.db(platform.dbName("telemetry"));
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  const js = jetstream(nc);
  // Readings every ~20 s over more than two hours, some late, some with only one measurement.
  const sends: Promise<unknown>[] = [];
  for (let k = 0; k < PER_MONITOR; k++) {
    for (const [m, id] of monitorIds.entries()) {
      const at = T0 + k * 20_000 + m * 7 - (k % 37 === 0 ? 300_000 : 0);
      const reading =
        k % 5 === 0
          ? { timestamp: at, electrical_conductivity: 1 + (k % 9) / 10 }
          : { timestamp: at, ph: 5 + (k % 23) / 10 };
      sends.push(js.publish(deviceSubjects.readings(id), JSON.stringify(reading)));
    }
    if (sends.length >= 100) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await within(
    60_000,
    async () => (await storedReadings(db, monitorIds)).distinct,
    (n) => n === PER_MONITOR * monitorIds.length,
  );
  // A round's rollups and counters are written after its readings, and its messages acked after
  // them: the answers recorded below wait for the last round to finish, not only to insert.
  const jsm = await jetstreamManager(nc);
  await within(
    60_000,
    () => jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER),
    (c) => c.num_pending + c.num_ack_pending === 0,
  );
}, 180_000);

afterAll(async () => {
  await nc?.close();
  await mongo?.close();
  await platform?.stop();
});

describe("readings migration from one document per reading", () => {
  it("moves every reading, survives a kill half way, and every read answers as before", async () => {
    const before = await answers();

    // Telemetry stops; the storage becomes what the previous version wrote (its store code).
    const telemetry = platform.procs.filter((p) => p.name === "telemetry");
    await Promise.all(telemetry.map((p) => p.stop()));
    for (const p of telemetry) platform.procs.splice(platform.procs.indexOf(p), 1);
    const buckets = await db.collection("reading_buckets").find({}).toArray();
    const legacy = new ReadingDocsStore(db);
    await legacy.ensureIndexes();
    for (const b of buckets) {
      await legacy.insertRound(pointsOf(b as never).map((p) => ({ ...p, monitorId: b.monitorId as string })));
    }
    await db.collection("reading_buckets").deleteMany({});
    expect(await legacy.collection.countDocuments()).toBe(PER_MONITOR * monitorIds.length);

    // Started, and killed once the migration is under way (batches of 50).
    const first = spawnService("telemetry", platform.env("telemetry"));
    await first.waitForLog((l) => l.msg === "readings migration progress" && (l.moved as number) >= 150, 60_000);
    await first.stop("SIGKILL");
    const left = await legacy.collection.countDocuments();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(PER_MONITOR * monitorIds.length);

    const second = await startService("telemetry", platform.env("telemetry"));
    platform.procs.push(second);
    expect(second.logs.some((l) => l.msg === "readings migration done")).toBe(true);
    expect(await db.listCollections({ name: "readings" }).hasNext()).toBe(false);

    const stored = await storedReadings(db, monitorIds);
    expect(stored).toEqual({ physical: PER_MONITOR * monitorIds.length, distinct: PER_MONITOR * monitorIds.length });
    expect(await answers()).toEqual(before);
    // A start with nothing to migrate does nothing.
    const third = await startService("telemetry", platform.env("telemetry"));
    platform.procs.push(third);
    expect(third.logs.some((l) => String(l.msg).startsWith("readings migration"))).toBe(false);
    expect(await new BucketReadingsStore(db).countStored(monitorIds[0] as string)).toBe(PER_MONITOR);
  }, 240_000);
});
