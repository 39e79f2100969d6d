/**
 * Replies that grow with the data travel as streams: the admin's "every monitor" `GET
 * /api/v1/monitors/get` over 200 monitors × 1,000 readings (tens of MB of JSON, several times the
 * NATS server's max_payload) arrives whole and in seed 002's shape, while neither the gateway nor
 * telemetry holds more than a small part of it.
 */
import { readFileSync } from "node:fs";
import { MEASUREMENTS, STRING_FIELDS } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PointOf } from "../services/telemetry/src/domain/buckets.ts";
import { BucketReadingsStore } from "../services/telemetry/src/store/reading-buckets.ts";
import { ADMIN, http, type Platform, startPlatform } from "./support/platform.ts";

// A NATS server of its own: the file runs services (their subjects and streams are fixed names).
const stack = useFileStack();

const MONITORS = 200;
const READINGS = 1_000;
const T0 = 1_750_000_000_000;

let platform: Platform;
let mongo: MongoClient;
let adminToken: string;
let ownerId: string;

const monitorId = (i: number) => i.toString(16).padStart(32, "0");
const seededValue = (monitor: number, reading: number, m: number) => monitor + reading / 1_000 + m / 10;

/** Resident memory of a process, from /proc (bytes). */
const rssOf = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) * 1024;
};

beforeAll(async () => {
  // Both processes run with a V8 old space (64 MiB) smaller than their baseline heap (~40 MiB
  // live after start: the gateway's contracts and routes grew, and 48 MiB left it dying at start
  // in one CI run) plus the reply (~40 MiB): one that held the reply would die of "heap out of memory". Their RSS,
  // sampled below, is mostly V8 deferring collection of garbage, so it is reported, and only the
  // gateway's (whose garbage is the chunks it passed on) is bounded by an assertion as well.
  platform = await startPlatform({
    stack,
    services: ["auth", "telemetry"],
    extraEnv: { NODE_OPTIONS: "--max-old-space-size=64" },
  });
  const login = await http(platform.base, "POST", "/api/v1/login/user", {
    json: { username: ADMIN.username, password: ADMIN.password },
  });
  adminToken = login.body.data.token;
  ownerId = login.body.data.user_id;

  // Seeded straight into telemetry's database (the shape its store writes): ingesting 200,000
  // readings through NATS would test ingest, not the reply.
  mongo = await MongoClient.connect(stack.mongoUrl);
  const db = mongo.db(platform.dbName("telemetry"));
  const monitors = [];
  for (let i = 0; i < MONITORS; i++) {
    const last = READINGS - 1;
    monitors.push({
      _id: monitorId(i),
      ownerId,
      createdAt: new Date(T0),
      latest: Object.fromEntries(
        MEASUREMENTS.map((m, k) => [m, { value: seededValue(i, last, k), at: T0 + last * 1000 }]),
      ),
      lastReadingAt: T0 + last * 1000,
      readingsStored: READINGS,
      readingsRejected: 0,
    });
  }
  await db.collection("monitors").insertMany(monitors as never[]);
  // As telemetry stores them: buckets of one monitor and minute (domain/buckets.ts).
  const buckets = new BucketReadingsStore(db);
  await buckets.ensureIndexes();
  const batch: PointOf[] = [];
  for (let i = 0; i < MONITORS; i++) {
    for (let r = 0; r < READINGS; r++) {
      batch.push({
        seq: r + 1,
        monitorId: monitorId(i),
        at: T0 + r * 1000,
        values: Object.fromEntries(MEASUREMENTS.map((m, k) => [m, seededValue(i, r, k)])),
      });
    }
    if (batch.length >= 10_000) await buckets.insertRound(batch.splice(0), false);
  }
  if (batch.length > 0) await buckets.insertRound(batch, false);
}, 180_000);

afterAll(async () => {
  await mongo?.close();
  await platform?.stop();
});

/** Samples the resident memory of the gateway and telemetry while `during` runs; returns each one's peak. */
async function peakRss<T>(during: () => Promise<T>): Promise<{ result: T; gateway: number; telemetry: number }> {
  const gateway = platform.procs.find((p) => p.name === "gateway");
  const telemetry = platform.procs.find((p) => p.name === "telemetry");
  if (!gateway || !telemetry) throw new Error("platform without gateway or telemetry");
  const peak = { gateway: rssOf(gateway.pid), telemetry: rssOf(telemetry.pid) };
  const sampler = setInterval(() => {
    peak.gateway = Math.max(peak.gateway, rssOf(gateway.pid));
    peak.telemetry = Math.max(peak.telemetry, rssOf(telemetry.pid));
  }, 10);
  try {
    return { result: await during(), ...peak };
  } finally {
    clearInterval(sampler);
  }
}

const allMonitors = async (): Promise<string> => {
  const res = await fetch(`${platform.base}/api/v1/monitors/get?token=${adminToken}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return res.text();
};

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

describe("admin GET /api/v1/monitors/get over 200 monitors × 1,000 readings", () => {
  it("returns every monitor in seed 002's shape from processes whose heap cannot hold it", async () => {
    const before = await peakRss(async () => undefined);
    const first = await peakRss(allMonitors);
    const text = first.result;
    const size = text.length;
    const growth = (k: "gateway" | "telemetry") => first[k] - before[k];
    console.log(
      `all monitors: ${mib(size)} of JSON; peak RSS growth gateway ${mib(growth("gateway"))}, telemetry ${mib(growth("telemetry"))}`,
    );
    expect(size).toBeGreaterThan(3 * 8 * 2 ** 20); // several times NATS's max_payload (8 MiB)

    const body = JSON.parse(text);
    expect(body.success).toBe(true);
    const ids = Object.keys(body.data);
    expect(ids).toHaveLength(MONITORS);
    expect(ids).toEqual([...ids].sort());
    for (const [i, id] of [0, 57, MONITORS - 1].map((n) => [n, monitorId(n)] as const)) {
      const d = body.data[id];
      expect(Object.keys(d).sort()).toEqual([...MEASUREMENTS, ...STRING_FIELDS, "owner"].sort());
      expect(d.owner).toBe(ownerId);
      MEASUREMENTS.forEach((m, k) => {
        const history = d[m].history;
        expect(Object.keys(history), `${id} ${m}`).toHaveLength(READINGS);
        expect(history[String(T0 + 500 * 1000)]).toBe(seededValue(i, 500, k));
        expect(d[m].value).toBe(seededValue(i, READINGS - 1, k));
      });
      for (const s of STRING_FIELDS) expect(d[s]).toBeNull();
    }
    // The same JSON as one monitor's own reply (plus its owner).
    const one = await http(
      platform.base,
      "GET",
      `/api/v1/monitors/get?token=${adminToken}&monitor_id=${monitorId(57)}`,
    );
    expect({ ...one.body.data, owner: ownerId }).toEqual(body.data[monitorId(57)]);

    // The gateway passes the bytes on at the client's pace: its peak grows by a fraction of the
    // reply (what it has is chunks awaiting garbage collection).
    expect(growth("gateway")).toBeLessThan(size / 2);
    // Both survived, within a heap that cannot hold the reply, and still answer.
    for (const p of platform.procs)
      expect(
        p.logs.some((l) => /heap out of memory/i.test(String(l.raw ?? ""))),
        p.name,
      ).toBe(false);
    const health = await http(platform.base, "GET", "/api/v2/services/telemetry/health");
    expect(health.status).toBe(200);
  }, 180_000);
});
