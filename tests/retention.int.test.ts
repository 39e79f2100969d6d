/**
 * Retention and downsampling through the real ingest, gateway and two telemetry instances:
 * readings older than the window are deleted in bounded batches (nothing newer touched, a
 * per-monitor override honoured), minute rollups past their window go once they are
 * downsampled, and the hourly and daily rollups still answer the series query for the old
 * range with the same aggregates the readings had.
 */
import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { type ServiceProcess, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, loginBoth, type Platform, startPlatform, type Tokens, within } from "./support/platform.ts";
import { storedReadings } from "./support/readings.ts";

const stack = useFileStack();
const hex = (bytes = 16) => randomBytes(bytes).toString("hex");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const BATCH = 100;
/** Windows of this file: raw 30 days, minutes 60, hours 200, days forever. */
const WINDOWS = {
  READINGS_RETENTION_DAYS: "30",
  ROLLUP_MINUTE_RETENTION_DAYS: "60",
  ROLLUP_HOUR_RETENTION_DAYS: "200",
  ROLLUP_DAY_RETENTION_DAYS: "0",
  RETENTION_BATCH_SIZE: String(BATCH),
  RETENTION_BATCH_PAUSE_MS: "20",
};

const NOW = Date.now();
/** Day-aligned starts of the old data: 100 days ago (hours kept) and 300 days ago (days only). */
const OLD_DAY = Math.floor((NOW - 100 * DAY) / DAY) * DAY;
const ANCIENT_DAY = Math.floor((NOW - 300 * DAY) / DAY) * DAY;
const RECENT = NOW - 10 * DAY;

interface Point {
  at: number;
  ph: number;
}

/** 1,000 readings over two days 100 days ago, 20 readings on one day 300 days ago, 50 ten days ago. */
const old: Point[] = Array.from({ length: 1_000 }, (_, i) => ({
  at: OLD_DAY + Math.floor((i * 2 * DAY) / 1_000) + (i % 7) * 1_000,
  ph: Math.round((5 + ((i * 37) % 300) / 100) * 100) / 100,
}));
const ancient: Point[] = Array.from({ length: 20 }, (_, i) => ({ at: ANCIENT_DAY + i * 3 * HOUR, ph: 6 + i / 10 }));
const recent: Point[] = Array.from({ length: 50 }, (_, i) => ({ at: RECENT + i * MIN, ph: 7 + (i % 5) / 10 }));
/** The second monitor keeps its readings 200 days: its 30 readings of 100 days ago stay. */
const keptOld: Point[] = Array.from({ length: 30 }, (_, i) => ({ at: OLD_DAY + i * HOUR, ph: 6.5 }));

let platform: Platform;
let base: string;
let admin: Tokens;
let owner: Tokens & { id: string };
let nc: NatsConnection;
let mongo: MongoClient;
let monitorId: string;
let keeperId: string;
let telemetries: ServiceProcess[] = [];

/** What the series query must answer per bucket of `size`, computed from the readings themselves. */
function expected(points: readonly Point[], size: number) {
  const buckets = new Map<number, Point[]>();
  for (const p of points) {
    const start = Math.floor(p.at / size) * size;
    buckets.set(start, [...(buckets.get(start) ?? []), p]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, ps]) => {
      const values = ps.map((p) => p.ph);
      const count = values.length;
      const sum = values.reduce((a, b) => a + b, 0);
      const mean = sum / count;
      const latest = ps.reduce((a, b) => (b.at > a.at || (b.at === a.at && b.ph > a.ph) ? b : a));
      return {
        start,
        avg: mean,
        min: Math.min(...values),
        max: Math.max(...values),
        count,
        stddev: Math.sqrt(Math.max(0, values.reduce((a, v) => a + v * v, 0) / count - mean * mean)),
        last: latest.ph,
      };
    });
}

async function createMonitor(ownerId: string): Promise<string> {
  const id = hex();
  const created = await http(base, "POST", "/api/v2/monitors", {
    bearer: admin.bearer,
    json: { id, owner_id: ownerId, password: `Retention-${hex(6)}` },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return id;
}

const db = () => mongo.db(platform.dbName("telemetry"));
const countReadings = async (id: string) => (await storedReadings(db(), [id])).physical;
const retentionRuns = () =>
  telemetries.flatMap((p) => p.logs.filter((l) => l.msg === "retention run done")) as unknown as {
    deleted: Record<string, number>;
    batches: Record<string, number>;
  }[];

beforeAll(async () => {
  // Ingest first with retention idle (one run an hour), then two instances that run it often.
  platform = await startPlatform({
    stack,
    services: ["auth", "telemetry"],
    extraEnv: { ...WINDOWS, RETENTION_INTERVAL_MS: "3600000" },
  });
  base = platform.base;
  mongo = await MongoClient.connect(stack.mongoUrl);
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  admin = await loginBoth(base, ADMIN.username, ADMIN.password);
  const username = `retention-${platform.suffix}`;
  const password = `Pw-${hex(6)}`;
  const reg = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(reg.status).toBe(201);
  owner = { id: reg.body.id, ...(await loginBoth(base, username, password)) };
  [monitorId, keeperId] = await Promise.all([createMonitor(owner.id), createMonitor(owner.id)]);
  const keep = await http(base, "PATCH", `/api/v2/monitors/${keeperId}`, {
    bearer: owner.bearer,
    json: { readings_retention_days: 200 },
  });
  expect(keep.status, JSON.stringify(keep.body)).toBe(200);
  expect(keep.body.readingsRetentionDays).toBe(200);

  // As devices publish them: timestamps of their own, through JetStream and the ingest consumer,
  // 50 at a time (each slice stored before the next): one ingest round of 1,070 readings in ~1,000
  // distinct minutes (a ~2,000-operation rollup bulk write) stalled the patched FerretDB here.
  const js = jetstream(nc);
  const storedOf = async (id: string) =>
    (await http(base, "GET", `/api/v2/monitors/${id}`, { bearer: owner.bearer })).body.readingsStored as number;
  const publish = async (id: string, points: readonly Point[]) => {
    for (let i = 0; i < points.length; i += 50) {
      await Promise.all(
        points
          .slice(i, i + 50)
          .map((p) => js.publish(deviceSubjects.readings(id), JSON.stringify({ timestamp: p.at, ph: p.ph }))),
      );
      const want = Math.min(i + 50, points.length);
      const { value } = await within(
        20_000,
        () => storedOf(id),
        (n) => n === want,
      );
      expect(value).toBe(want);
    }
  };
  await publish(monitorId, [...ancient, ...old, ...recent]);
  await publish(keeperId, keptOld);
  expect([await countReadings(monitorId), await countReadings(keeperId)]).toEqual([1_070, 30]);

  const first = platform.procs.find((p) => p.name === "telemetry");
  await first?.stop();
  platform.procs = platform.procs.filter((p) => p !== first);
  telemetries = await Promise.all(
    [1, 2].map((n) =>
      startService(
        "telemetry",
        platform.env("telemetry", { RETENTION_INTERVAL_MS: "700", INSTANCE_ID: `telemetry-${platform.suffix}-r${n}` }),
      ),
    ),
  );
  platform.procs.push(...telemetries);
}, 180_000);

afterAll(async () => {
  await nc?.drain();
  await mongo?.close();
  await platform?.stop();
});

describe("retention and downsampling", () => {
  it("deletes raw readings past the window in bounded batches, and nothing newer", async () => {
    const done = await within(
      150_000,
      () => countReadings(monitorId),
      (n) => n === recent.length,
    );
    expect(done.value).toBe(recent.length);
    // Exactly the recent ones are left, untouched.
    const page = await http(base, "GET", `/api/v2/monitors/${monitorId}/readings?from=0&limit=1000`, {
      bearer: owner.bearer,
    });
    expect(page.status).toBe(200);
    expect(page.body.items.map((r: { at: number; values: { ph: number } }) => [r.at, r.values.ph])).toEqual(
      recent.map((p) => [p.at, p.ph]),
    );
    // The per-monitor override: 100-day-old readings kept for 200 days.
    expect(await countReadings(keeperId)).toBe(keptOld.length);

    // 1,020 readings went 100 at a time: at least 11 batches, none larger than the batch size.
    await within(
      90_000,
      async () => retentionRuns().reduce((a, r) => a + (r.deleted.readings ?? 0), 0),
      (n) => n >= old.length + ancient.length,
    );
    const runs = retentionRuns();
    const deleted = runs.reduce((a, r) => a + (r.deleted.readings ?? 0), 0);
    const batches = runs.reduce((a, r) => a + (r.batches.readings ?? 0), 0);
    expect(deleted).toBe(old.length + ancient.length);
    expect(batches).toBeGreaterThanOrEqual(Math.ceil(deleted / BATCH));
    const batchLogs = telemetries.flatMap((p) =>
      p.logs.filter((l) => l.msg === "retention batch deleted" && l.kind === "readings"),
    );
    expect(batchLogs.length).toBe(batches);
    for (const l of batchLogs) expect(l.deleted as number).toBeLessThanOrEqual(BATCH);
  }, 240_000);

  it("deletes minute rollups past their window once downsampled; hourly and daily rollups past theirs", async () => {
    const rollups = db().collection("rollups");
    const gone = await within(
      90_000,
      () => rollups.countDocuments({ monitorId, minute: { $lt: NOW - 60 * DAY } }),
      (n) => n === 0,
    );
    expect(gone.value).toBe(0);
    // Recent minutes stay (the 50 readings, one a minute).
    expect(await rollups.countDocuments({ monitorId, minute: { $gte: RECENT - MIN } })).toBe(recent.length);
    // Hours 300 days ago are past their 200 days; those of 100 days ago are kept; days all kept.
    const hourly = db().collection("rollups_hourly");
    await within(
      10_000,
      () => hourly.countDocuments({ monitorId, start: { $lt: NOW - 200 * DAY } }),
      (n) => n === 0,
    );
    expect(await hourly.countDocuments({ monitorId, start: { $lt: NOW - 200 * DAY } })).toBe(0);
    expect(await hourly.countDocuments({ monitorId, start: { $gte: OLD_DAY, $lt: OLD_DAY + 2 * DAY } })).toBe(48);
    expect(await db().collection("rollups_daily").countDocuments({ monitorId, start: ANCIENT_DAY })).toBe(1);
  }, 120_000);

  it("answers the series query for old ranges from hourly and daily rollups, with the readings' aggregates", async () => {
    const series = (from: number, to: number, interval: string) =>
      http(
        base,
        "GET",
        `/api/v2/monitors/${monitorId}/series?from=${from}&to=${to}&interval=${interval}&measurements=ph:avg,ph:min,ph:max,ph:count,ph:stddev,ph:last`,
        { bearer: owner.bearer },
      );
    const check = (
      body: { series: { aggregate: string; points: { start: number; value: number }[] }[] },
      want: ReturnType<typeof expected>,
    ) => {
      for (const column of body.series) {
        const a = column.aggregate as keyof (typeof want)[number];
        expect(
          column.points.map((p) => p.start),
          a,
        ).toEqual(want.map((w) => w.start));
        column.points.forEach((p, i) => {
          expect(p.value, `${a} at ${p.start}`).toBeCloseTo(want[i]?.[a] as number, 9);
        });
      }
    };
    // 100 days ago, per day and per 6 hours: hourly rollups (the minutes are gone).
    const perDay = await series(OLD_DAY, OLD_DAY + 2 * DAY - 1, "1d");
    expect(perDay.status, JSON.stringify(perDay.body)).toBe(200);
    check(perDay.body, expected(old, DAY));
    const perSixHours = await series(OLD_DAY, OLD_DAY + 2 * DAY - 1, "6h");
    expect(perSixHours.status).toBe(200);
    check(perSixHours.body, expected(old, 6 * HOUR));
    // 300 days ago: only the daily rollup is left.
    const year = await series(ANCIENT_DAY - 5 * DAY, ANCIENT_DAY + 5 * DAY, "1d");
    expect(year.status).toBe(200);
    check(year.body, expected(ancient, DAY));
    // Recent data still at minute resolution.
    const minutes = await series(RECENT, RECENT + HOUR - 1, "15m");
    expect(minutes.status).toBe(200);
    check(minutes.body, expected(recent, 15 * MIN));
  }, 30_000);

  it("runs are logged with what they did, and no error was logged", () => {
    const errors = telemetries.flatMap((p) => p.logs.filter((l) => typeof l.level === "number" && l.level >= 50));
    expect(errors).toEqual([]);
    expect(retentionRuns().length).toBeGreaterThan(0);
  });
});
