import { describe, expect, it } from "vitest";
import {
  bucketStart,
  combineMinutes,
  MINUTE_MS,
  minuteStart,
  parseInterval,
  planSeries,
  rollupIncrements,
} from "./rollup.ts";

const HOUR = 60 * MINUTE_MS;

describe("rollups", () => {
  it("aligns buckets to the epoch", () => {
    expect(minuteStart(125_000)).toBe(120_000);
    expect(bucketStart(HOUR + 5, HOUR)).toBe(HOUR);
    expect(bucketStart(-1, MINUTE_MS)).toBe(-MINUTE_MS);
  });

  it("parses intervals", () => {
    expect(parseInterval("1m")).toBe(MINUTE_MS);
    expect(parseInterval("15m")).toBe(15 * MINUTE_MS);
    expect(parseInterval("2h")).toBe(2 * HOUR);
    expect(parseInterval("1d")).toBe(24 * HOUR);
    for (const bad of ["0m", "1s", "m", "1.5h", ""]) {
      expect(() => parseInterval(bad)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    }
  });

  it("folds a batch into one increment per monitor and minute", () => {
    const incs = rollupIncrements([
      { monitorId: "a", reading: { at: 1_000, values: { ph: 6, air_flow: 1 } } },
      { monitorId: "a", reading: { at: 59_999, values: { ph: 8 } } },
      { monitorId: "a", reading: { at: 60_000, values: { ph: 7 } } },
      { monitorId: "b", reading: { at: 1_000, values: { ph: 1 } } },
      { monitorId: "b", reading: { at: 2_000, values: {} } },
    ]);
    expect(incs).toEqual([
      {
        monitorId: "a",
        minute: 0,
        stats: { ph: { count: 2, sum: 14, min: 6, max: 8 }, air_flow: { count: 1, sum: 1, min: 1, max: 1 } },
      },
      { monitorId: "a", minute: 60_000, stats: { ph: { count: 1, sum: 7, min: 7, max: 7 } } },
      { monitorId: "b", minute: 0, stats: { ph: { count: 1, sum: 1, min: 1, max: 1 } } },
    ]);
  });

  it("combines minutes into larger buckets with avg from sum/count; empty buckets are left out", () => {
    const minutes = [
      { minute: 0, stats: { count: 2, sum: 10, min: 4, max: 6 } },
      { minute: MINUTE_MS, stats: { count: 1, sum: 9, min: 9, max: 9 } },
      { minute: 2 * HOUR + MINUTE_MS, stats: { count: 4, sum: 4, min: 0, max: 2 } },
      { minute: 3 * HOUR, stats: { count: 0, sum: 0, min: 0, max: 0 } },
    ];
    expect(combineMinutes(minutes, HOUR)).toEqual([
      { start: 0, count: 3, avg: 19 / 3, min: 4, max: 9 },
      { start: 2 * HOUR, count: 4, avg: 1, min: 0, max: 2 },
    ]);
    expect(combineMinutes(minutes, MINUTE_MS)).toHaveLength(3);
  });

  it("plans windows and refuses too many buckets or days", () => {
    expect(planSeries(90_000, HOUR + 1, "1m")).toEqual({ sizeMs: MINUTE_MS, fromMinute: 60_000, toMinute: HOUR });
    expect(() => planSeries(0, 10_000 * MINUTE_MS, "1m")).toThrow(/buckets/);
    expect(planSeries(0, 9_999 * MINUTE_MS, "1m").sizeMs).toBe(MINUTE_MS);
    expect(() => planSeries(0, 401 * 24 * HOUR, "1d")).toThrow(/400 days/);
    expect(() => planSeries(5, 4, "1m")).toThrow(/before/);
  });
});
