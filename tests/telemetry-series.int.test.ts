/**
 * Richer series through the real gateway and two telemetry instances: several measurements with
 * their own aggregates (avg, min, max, count, sum, stddev, last), gap filling (none, null,
 * previous, linear), CSV, and the original `measurement=` form; readings at known timestamps
 * through the same ingest devices use.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { deviceSubjects, READINGS_CONSUMER, READINGS_STREAM } from "@trellis/contracts";
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
const MIN = 60_000;
const HOUR = 60 * MIN;
/** Buckets of 15 minutes over one hour: 0, 15, 30, 45; readings only in the first and the last. */
const T0 = Date.UTC(2024, 2, 1);

let platform: Platform;
let base: string;
let admin: Tokens;
let owner: Tokens & { id: string };
let other: Tokens;
let monitorId: string;

const register = (prefix: string) => registerWithTokens(base, platform.suffix, prefix);

const get = (query: string, bearer = owner.bearer, headers: Record<string, string> = {}) =>
  http(base, "GET", `/api/v2/monitors/${monitorId}/series?from=${T0}&to=${T0 + HOUR - 1}&${query}`, {
    bearer,
    headers,
  });

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth", "telemetry"] });
  platform.procs.push(
    await startService("telemetry", platform.env("telemetry", { INSTANCE_ID: `telemetry-${platform.suffix}-2` })),
  );
  base = platform.base;
  admin = await loginBoth(base, ADMIN.username, ADMIN.password);
  [owner, other] = await Promise.all([register("series-owner"), register("series-other")]);
  const monitor = await createMonitor(base, admin.bearer, owner.id);
  monitorId = monitor.id;
  // ph 6, 8, 4 in the first bucket (8 is the latest, though 4 arrives after it); 9 in the last.
  // reservoir_temp 20, 22 in the first bucket; 26 in the last.
  const readings = [
    { timestamp: T0 + MIN, ph: 6, reservoir_temp: 20 },
    { timestamp: T0 + 2 * MIN + 30_000, ph: 8, reservoir_temp: 22 },
    { timestamp: T0 + 2 * MIN + 10_000, ph: 4 },
    { timestamp: T0 + 50 * MIN, ph: 9, reservoir_temp: 26 },
  ];
  for (const r of readings) {
    const res = await http(base, "POST", `/api/v2/monitors/${monitorId}/readings`, { bearer: monitor.token, json: r });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await platform?.stop();
});

const pointsOf = (body: { series: { points: { start: number; value: number | null }[] }[] }, i = 0) =>
  body.series[i]?.points.map((p) => [(p.start - T0) / MIN, p.value]);

describe("GET /api/v2/monitors/{id}/series?measurements=", () => {
  it("computes each aggregate per bucket", async () => {
    const expected = {
      avg: [6, 9],
      min: [4, 9],
      max: [8, 9],
      count: [3, 1],
      sum: [18, 9],
      stddev: [Math.sqrt(8 / 3), 0],
      last: [8, 9],
    } as const;
    const res = await get(`interval=15m&measurements=${Object.keys(expected).map((a) => `ph:${a}`)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ interval: "15m", from: T0, to: T0 + HOUR - 1, fill: "none" });
    expect(res.body.series).toHaveLength(7);
    Object.entries(expected).forEach(([aggregate, [first, last]], i) => {
      const s = res.body.series[i];
      expect(s).toMatchObject({ measurement: "ph", aggregate });
      expect(s.points.map((p: { start: number }) => p.start)).toEqual([T0, T0 + 45 * MIN]);
      expect(s.points[0].value, aggregate).toBeCloseTo(first, 9);
      expect(s.points[1].value, aggregate).toBeCloseTo(last, 9);
    });
  });

  it("fills empty buckets: none, null, previous, linear; a count column counts 0", async () => {
    const fills = {
      none: [
        [0, 6],
        [45, 9],
      ],
      null: [
        [0, 6],
        [15, null],
        [30, null],
        [45, 9],
      ],
      previous: [
        [0, 6],
        [15, 6],
        [30, 6],
        [45, 9],
      ],
      linear: [
        [0, 6],
        [15, 7],
        [30, 8],
        [45, 9],
      ],
    };
    for (const [fill, expected] of Object.entries(fills)) {
      const res = await get(`interval=15m&fill=${fill}&measurements=ph:avg,reservoir_temp:max,ph:count`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.fill).toBe(fill);
      const ph = pointsOf(res.body, 0) as [number, number | null][];
      expect(
        ph.map(([m]) => m),
        fill,
      ).toEqual(expected.map(([m]) => m));
      ph.forEach(([, v], i) => {
        const want = expected[i]?.[1] as number | null;
        if (want === null) expect(v, fill).toBeNull();
        else expect(v, fill).toBeCloseTo(want, 9);
      });
      const counts = pointsOf(res.body, 2);
      expect(counts, fill).toEqual(
        fill === "none"
          ? [
              [0, 3],
              [45, 1],
            ]
          : [
              [0, 3],
              [15, 0],
              [30, 0],
              [45, 1],
            ],
      );
    }
    const linear = await get("interval=15m&fill=linear&measurements=reservoir_temp:max");
    const temps = pointsOf(linear.body) as [number, number][];
    expect(temps.map(([, v]) => v)).toEqual([22, expect.closeTo(22 + 4 / 3, 9), expect.closeTo(22 + 8 / 3, 9), 26]);
  });

  it("exports the same as CSV (format=csv or Accept: text/csv)", async () => {
    const expected = [
      "start,iso_time,ph_avg,reservoir_temp_max,ph_count",
      `${T0},${new Date(T0).toISOString()},6,22,3`,
      `${T0 + 15 * MIN},${new Date(T0 + 15 * MIN).toISOString()},6,22,0`,
      `${T0 + 30 * MIN},${new Date(T0 + 30 * MIN).toISOString()},6,22,0`,
      `${T0 + 45 * MIN},${new Date(T0 + 45 * MIN).toISOString()},9,26,1`,
    ];
    const q = "interval=15m&fill=previous&measurements=ph:avg,reservoir_temp:max,ph:count";
    for (const res of [await get(`${q}&format=csv`), await get(q, owner.bearer, { accept: "text/csv" })]) {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
      expect(String(res.body).trimEnd().split("\n")).toEqual(expected);
    }
    // Without fill, an empty cell where a column has no value.
    const sparse = await get("interval=15m&fill=null&measurements=ph:avg&format=csv");
    expect(String(sparse.body).trimEnd().split("\n")[2]).toBe(
      `${T0 + 15 * MIN},${new Date(T0 + 15 * MIN).toISOString()},`,
    );
  });

  it("keeps the original measurement= form, which now also takes the new aggregates and fill", async () => {
    const original = await get("interval=15m&measurement=ph");
    expect(original.status).toBe(200);
    expect(original.body).toMatchObject({
      measurement: "ph",
      points: [
        { start: T0, count: 3, avg: 6, min: 4, max: 8 },
        { start: T0 + 45 * MIN, count: 1, avg: 9, min: 9, max: 9 },
      ],
    });
    const last = await get("interval=15m&measurement=ph&aggregate=last&fill=previous");
    expect(last.status, JSON.stringify(last.body)).toBe(200);
    expect(last.body).toMatchObject({ measurement: "ph", aggregate: "last" });
    expect(last.body.points.map((p: { value: number }) => p.value)).toEqual([8, 8, 8, 9]);
  });

  it("refuses bad queries with a 400 and someone else's monitor with a 404 (as an unknown one)", async () => {
    for (const q of [
      "measurements=ph:median",
      "measurements=ph",
      "measurements=humidity:avg",
      "measurements=ph:avg,ph:avg",
      "measurements=ph:avg&measurement=ph",
      "measurements=ph:avg&aggregate=max",
      "measurement=ph&fill=linear",
      "measurements=ph:avg&fill=spline",
      "measurements=ph:avg&format=xml",
      "",
    ]) {
      const res = await get(`interval=15m&${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.code, q).toBe("invalid_argument");
    }
    expect((await get("interval=15m&measurements=ph:avg", other.bearer)).status).toBe(404);
  });

  it("stddev and last are exact with two telemetry instances writing the same minutes, in any order", async () => {
    const m = await createMonitor(base, admin.bearer, owner.id);
    const T1 = T0 + 2 * HOUR;
    // 600 readings over 10 minutes, published out of order in parallel; each instance takes rounds.
    const values = Array.from({ length: 600 }, (_, i) => ({ at: T1 + i * 1_000, ph: ((i * 37) % 101) / 10 }));
    const shuffled = [...values].sort((a, b) => ((a.at * 7919) % 613) - ((b.at * 7919) % 613));
    const nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    const js = jetstream(nc);
    for (let i = 0; i < shuffled.length; i += 100) {
      await Promise.all(
        shuffled
          .slice(i, i + 100)
          .map((r) => js.publish(deviceSubjects.readings(m.id), JSON.stringify({ timestamp: r.at, ph: r.ph }))),
      );
    }
    await within(
      30_000,
      () => http(base, "GET", `/api/v2/monitors/${m.id}`, { bearer: owner.bearer }),
      (r) => r.status === 200 && r.body.readingsStored === values.length,
    );
    // The monitor's counter and the minute rollups are written side by side: the last round is
    // done (its rollups' last values too) once the ingest consumer has nothing left unacked.
    const jsm = await jetstreamManager(nc);
    await within(
      30_000,
      () => jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER),
      (ci) => ci.num_pending === 0 && ci.num_ack_pending === 0,
    );
    await nc.close();
    const res = await http(
      base,
      "GET",
      `/api/v2/monitors/${m.id}/series?from=${T1}&to=${T1 + 10 * MIN - 1}&interval=5m&measurements=ph:stddev,ph:last,ph:count`,
      { bearer: owner.bearer },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    for (const [b, start] of [T1, T1 + 5 * MIN].entries()) {
      const inBucket = values.filter((v) => v.at >= start && v.at < start + 5 * MIN).map((v) => v.ph);
      const mean = inBucket.reduce((a, v) => a + v, 0) / inBucket.length;
      const sd = Math.sqrt(inBucket.reduce((a, v) => a + (v - mean) ** 2, 0) / inBucket.length);
      expect(res.body.series[0].points[b].value).toBeCloseTo(sd, 9);
      expect(res.body.series[1].points[b].value).toBe(inBucket.at(-1));
      expect(res.body.series[2].points[b].value).toBe(300);
    }
  }, 60_000);
});
