import { SeriesColumns } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { isLater, MINUTE_MS, rollupExtras } from "./rollup.ts";
import { aggregateOf, bucketGrid, bucketsOf, columnPoints, fillGaps, type MinuteRollup, stddevOf } from "./series.ts";

const HOUR = 60 * MINUTE_MS;
const minute = (count: number, values: number[], last: number, lastAt: number): MinuteRollup => ({
  count,
  sum: values.reduce((a, b) => a + b, 0),
  min: Math.min(...values),
  max: Math.max(...values),
  sumSq: values.reduce((a, b) => a + b * b, 0),
  sqCount: count,
  last,
  lastAt,
});

describe("series columns", () => {
  it("parses `<measurement>:<aggregate>` lists and refuses bad or repeated pairs", () => {
    expect(SeriesColumns.parse("ph:avg,reservoir_temp:max, ph:last")).toEqual([
      { measurement: "ph", aggregate: "avg" },
      { measurement: "reservoir_temp", aggregate: "max" },
      { measurement: "ph", aggregate: "last" },
    ]);
    for (const bad of ["", "ph", "ph:median", "humidity:avg", "ph:avg:x", "ph:avg,ph:avg", "ph:avg,"]) {
      expect(SeriesColumns.safeParse(bad).success, bad).toBe(false);
    }
    expect(
      SeriesColumns.safeParse(Array.from({ length: 17 }, (_, i) => `ph:${["avg", "min"][i % 2]}`).join(",")).success,
    ).toBe(false);
  });
});

describe("rollup extras", () => {
  it("folds Σv², its count and the latest (time, value) per monitor, minute and measurement", () => {
    const extras = rollupExtras([
      { monitorId: "a", reading: { at: 5_000, values: { ph: 6, air_flow: 1 } } },
      { monitorId: "a", reading: { at: 1_000, values: { ph: 8 } } },
      { monitorId: "a", reading: { at: 5_000, values: { ph: 5 } } },
      { monitorId: "a", reading: { at: 60_000, values: { ph: 7 } } },
      { monitorId: "b", reading: { at: 2_000, values: {} } },
    ]);
    expect(extras).toEqual([
      {
        monitorId: "a",
        minute: 0,
        extras: {
          ph: { sumSq: 36 + 64 + 25, sqCount: 3, last: 6, lastAt: 5_000 },
          air_flow: { sumSq: 1, sqCount: 1, last: 1, lastAt: 5_000 },
        },
      },
      { monitorId: "a", minute: 60_000, extras: { ph: { sumSq: 49, sqCount: 1, last: 7, lastAt: 60_000 } } },
    ]);
  });

  it("orders (time, value) pairs totally, so any order of writers ends with the same last", () => {
    expect(isLater(2, 0, 1, 9)).toBe(true);
    expect(isLater(1, 9, 2, 0)).toBe(false);
    expect(isLater(1, 5, 1, 4)).toBe(true);
    expect(isLater(1, 4, 1, 4)).toBe(false);
  });
});

describe("buckets and aggregates", () => {
  it("computes the population stddev from count, sum and Σv²", () => {
    const values = [2, 4, 4, 4, 5, 5, 7, 9];
    const sum = values.reduce((a, b) => a + b, 0);
    const sumSq = values.reduce((a, b) => a + b * b, 0);
    expect(stddevOf(values.length, sum, sumSq)).toBeCloseTo(2);
    expect(stddevOf(2, 2, 1.999_999_9)).toBe(0); // Σv²/n − mean² slightly negative by rounding
    expect(() => stddevOf(0, 0, 0)).toThrow(RangeError);
  });

  it("combines minutes into buckets: every aggregate, last from the latest minute", () => {
    const buckets = bucketsOf(
      [
        { minute: 0, stats: minute(2, [1, 3], 3, 30_000) },
        { minute: 2 * MINUTE_MS, stats: minute(2, [5, 7], 5, 2 * MINUTE_MS + 59_000) },
        { minute: HOUR, stats: minute(1, [10], 10, HOUR) },
        { minute: 2 * HOUR, stats: { count: 0, sum: 0, min: 0, max: 0 } },
      ],
      HOUR,
    );
    expect([...buckets.keys()]).toEqual([0, HOUR]);
    const b = buckets.get(0);
    if (!b) throw new Error("no bucket");
    expect(aggregateOf(b, "count")).toBe(4);
    expect(aggregateOf(b, "sum")).toBe(16);
    expect(aggregateOf(b, "avg")).toBe(4);
    expect(aggregateOf(b, "min")).toBe(1);
    expect(aggregateOf(b, "max")).toBe(7);
    expect(aggregateOf(b, "stddev")).toBeCloseTo(Math.sqrt(5));
    expect(aggregateOf(b, "last")).toBe(5);
  });

  it("gives null stddev and last where a minute predates Σv² (old rollups, or partly old)", () => {
    const old = { count: 2, sum: 4, min: 1, max: 3 };
    const partly = { ...minute(1, [9], 9, 10), count: 3, sum: 13, min: 1, max: 9 };
    for (const stats of [old, partly]) {
      const b = bucketsOf([{ minute: 0, stats }], HOUR).get(0);
      if (!b) throw new Error("no bucket");
      expect(aggregateOf(b, "stddev")).toBeNull();
      expect(aggregateOf(b, "last")).toBeNull();
      expect(aggregateOf(b, "avg")).toBe(stats.sum / stats.count);
    }
    // An old minute before a new one: last is known (from the latest minute), stddev is not.
    const mixed = bucketsOf(
      [
        { minute: 0, stats: old },
        { minute: MINUTE_MS, stats: minute(1, [4], 4, MINUTE_MS) },
      ],
      HOUR,
    ).get(0);
    expect(mixed && aggregateOf(mixed, "last")).toBe(4);
    expect(mixed && aggregateOf(mixed, "stddev")).toBeNull();
  });
});

describe("gap filling", () => {
  const grid = bucketGrid(0, 5 * 10 - 1, 10); // 0, 10, 20, 30, 40
  const values = new Map<number, number | null>([
    [10, 1],
    [40, 4],
  ]);

  it("lays out every bucket of the window", () => {
    expect(grid).toEqual([0, 10, 20, 30, 40]);
    expect(bucketGrid(15, 15, 10)).toEqual([10]);
  });

  it("none leaves empty buckets out; null lists them", () => {
    expect(fillGaps(grid, values, "none")).toEqual([
      { start: 10, value: 1 },
      { start: 40, value: 4 },
    ]);
    expect(fillGaps(grid, values, "null").map((p) => p.value)).toEqual([null, 1, null, null, 4]);
  });

  it("previous repeats the last value before (none before the first)", () => {
    expect(fillGaps(grid, values, "previous").map((p) => p.value)).toEqual([null, 1, 1, 1, 4]);
  });

  it("linear interpolates by time between the values either side, not past the ends", () => {
    expect(fillGaps(grid, values, "linear").map((p) => p.value)).toEqual([null, 1, 2, 3, 4]);
    const trailing = new Map<number, number | null>([[10, 1]]);
    expect(fillGaps(grid, trailing, "linear").map((p) => p.value)).toEqual([null, 1, null, null, null]);
  });

  it("fills only empty buckets: a bucket with readings but no known value stays null and is no anchor", () => {
    const unknown = new Map<number, number | null>([
      [0, 0],
      [20, null],
      [40, 4],
    ]);
    expect(fillGaps(grid, unknown, "previous").map((p) => p.value)).toEqual([0, 0, null, null, 4]);
    expect(fillGaps(grid, unknown, "linear").map((p) => p.value)).toEqual([0, null, null, null, 4]);
    expect(fillGaps(grid, unknown, "none").map((p) => p.value)).toEqual([0, null, 4]);
  });

  it("a count column counts 0 in empty buckets instead of filling", () => {
    const buckets = bucketsOf(
      [{ minute: 10 * MINUTE_MS, stats: minute(2, [1, 2], 2, 10 * MINUTE_MS) }],
      10 * MINUTE_MS,
    );
    const g = bucketGrid(0, 30 * MINUTE_MS - 1, 10 * MINUTE_MS);
    expect(columnPoints(buckets, "count", g, "previous").map((p) => p.value)).toEqual([0, 2, 0]);
    expect(columnPoints(buckets, "count", g, "none").map((p) => p.value)).toEqual([2]);
    expect(columnPoints(buckets, "avg", g, "previous").map((p) => p.value)).toEqual([null, 1.5, 1.5]);
  });
});
