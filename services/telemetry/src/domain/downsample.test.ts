import { describe, expect, it } from "vitest";
import {
  chooseResolution,
  DAY_MS,
  downsampleDocs,
  HOUR_MS,
  mergePieces,
  type RetentionWindows,
  sourceRanges,
  type TierDoc,
} from "./downsample.ts";
import { MINUTE_MS } from "./rollup.ts";
import { aggregateOf, bucketsOf, type MinuteRollup } from "./series.ts";

const T0 = Date.UTC(2025, 0, 1);
const AGGREGATES = ["avg", "min", "max", "count", "sum", "stddev", "last"] as const;

/** A minute's rollup as ingest writes it, from its readings `(at, value)`. */
function minuteOf(readings: [number, number][]): MinuteRollup {
  const values = readings.map(([, v]) => v);
  const [lastAt, last] = readings.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
  return {
    count: values.length,
    sum: values.reduce((a, b) => a + b, 0),
    min: Math.min(...values),
    max: Math.max(...values),
    sumSq: values.reduce((a, b) => a + b * b, 0),
    sqCount: values.length,
    last,
    lastAt,
  };
}

/** Three days of pseudo-random ph readings, a few per minute, some minutes empty. */
function minuteDocs(): TierDoc[] {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  const docs: TierDoc[] = [];
  for (let t = T0; t < T0 + 3 * DAY_MS; t += MINUTE_MS) {
    if (rnd() < 0.3) continue;
    const n = 1 + Math.floor(rnd() * 3);
    const readings: [number, number][] = Array.from({ length: n }, () => [
      t + Math.floor(rnd() * MINUTE_MS),
      Math.round((5 + rnd() * 3) * 100) / 100,
    ]);
    docs.push({ start: t, m: { ph: minuteOf(readings) } });
  }
  return docs;
}

const asPieces = (docs: readonly TierDoc[]) =>
  docs.flatMap((d) => (d.m.ph ? [{ minute: d.start, stats: d.m.ph }] : []));

describe("downsampling rollups", () => {
  it("merges minutes into hours and hours into days without changing any aggregate", () => {
    const minutes = minuteDocs();
    const hours = downsampleDocs(minutes, HOUR_MS);
    const days = downsampleDocs(hours, DAY_MS);
    expect(hours.length).toBe(72);
    expect(days.map((d) => d.start)).toEqual([T0, T0 + DAY_MS, T0 + 2 * DAY_MS]);
    for (const size of [6 * HOUR_MS, DAY_MS, 3 * DAY_MS]) {
      const fromMinutes = bucketsOf(asPieces(minutes), size);
      const fromHours = bucketsOf(asPieces(hours), size);
      const fromDays = size % DAY_MS === 0 ? bucketsOf(asPieces(days), size) : fromHours;
      expect([...fromHours.keys()]).toEqual([...fromMinutes.keys()]);
      for (const [start, b] of fromMinutes) {
        for (const coarse of [fromHours.get(start), fromDays.get(start)]) {
          expect(coarse).toBeDefined();
          for (const a of AGGREGATES) {
            const want = aggregateOf(b, a);
            const got = aggregateOf(coarse as NonNullable<typeof coarse>, a);
            expect(want, a).not.toBeNull();
            expect(got, `${a} at ${size}`).toBeCloseTo(want as number, 9);
          }
        }
      }
    }
  });

  it("keeps stddev and last unknown when a finer piece lacked them, as the minutes would", () => {
    const old: MinuteRollup = { count: 2, sum: 10, min: 4, max: 6 };
    const fresh = minuteOf([[T0 + MINUTE_MS + 5, 7]]);
    const hour = mergePieces([
      { start: T0, stats: old },
      { start: T0 + MINUTE_MS, stats: fresh },
    ]);
    expect(hour).toMatchObject({ count: 3, sum: 17, min: 4, max: 7, last: 7, sqCount: 1 });
    const bucket = bucketsOf([{ minute: T0, stats: hour as MinuteRollup }], HOUR_MS).get(T0);
    expect(aggregateOf(bucket as NonNullable<typeof bucket>, "stddev")).toBeNull();
    // The latest minute without `last`: the hour has none either.
    const noLast = mergePieces([
      { start: T0, stats: fresh },
      { start: T0 + 2 * MINUTE_MS, stats: old },
    ]);
    expect(noLast?.last).toBeUndefined();
    expect(mergePieces([])).toBeNull();
    expect(mergePieces([{ start: T0, stats: { count: 0, sum: 0, min: 0, max: 0 } }])).toBeNull();
  });
});

describe("choosing the resolution of a series", () => {
  const now = Date.UTC(2026, 0, 1);
  const windows: RetentionWindows = { minute: 90, hour: 730, day: 0 };

  it("picks the finest resolution that fits the interval and still covers the range", () => {
    expect(chooseResolution(now - 10 * DAY_MS, 15 * MINUTE_MS, now, windows)).toBe("minute");
    expect(chooseResolution(now - 10 * DAY_MS, HOUR_MS, now, windows)).toBe("minute");
    expect(chooseResolution(now - 100 * DAY_MS, HOUR_MS, now, windows)).toBe("hour");
    expect(chooseResolution(now - 100 * DAY_MS, DAY_MS, now, windows)).toBe("hour");
    expect(chooseResolution(now - 1_000 * DAY_MS, DAY_MS, now, windows)).toBe("day");
    expect(chooseResolution(now - 1_000 * DAY_MS, 7 * DAY_MS, now, windows)).toBe("day");
  });

  it("falls back to the coarsest resolution that fits when none covers the range", () => {
    // 15 minutes can only be built from minutes, whatever is left of them.
    expect(chooseResolution(now - 200 * DAY_MS, 15 * MINUTE_MS, now, windows)).toBe("minute");
    // 90 minutes does not fit in hours.
    expect(chooseResolution(now - 200 * DAY_MS, 90 * MINUTE_MS, now, windows)).toBe("minute");
    expect(chooseResolution(now - 1_000 * DAY_MS, 2 * HOUR_MS, now, windows)).toBe("hour");
    expect(chooseResolution(now - 5_000 * DAY_MS, DAY_MS, now, { minute: 90, hour: 730, day: 3650 })).toBe("day");
  });

  it("reads coarse pieces before the watermark and finer ones after it, without overlap", () => {
    const done = T0 + 2 * DAY_MS + 5 * HOUR_MS;
    expect(sourceRanges("minute", T0 + 30_000, T0 + HOUR_MS, done)).toEqual([
      { resolution: "minute", from: T0, to: T0 + HOUR_MS + 1 },
    ]);
    expect(sourceRanges("hour", T0 + 30 * MINUTE_MS, T0 + 3 * DAY_MS, done)).toEqual([
      { resolution: "hour", from: T0, to: done },
      { resolution: "minute", from: done, to: T0 + 3 * DAY_MS + 1 },
    ]);
    expect(sourceRanges("day", T0, T0 + 3 * DAY_MS - 1, done)).toEqual([
      { resolution: "day", from: T0, to: T0 + 2 * DAY_MS },
      { resolution: "hour", from: T0 + 2 * DAY_MS, to: done },
      { resolution: "minute", from: done, to: T0 + 3 * DAY_MS },
    ]);
    // Entirely before the watermark: coarse pieces only.
    expect(sourceRanges("day", T0, T0 + DAY_MS - 1, done)).toEqual([{ resolution: "day", from: T0, to: T0 + DAY_MS }]);
    // Nothing downsampled yet: minutes.
    expect(sourceRanges("hour", T0, T0 + DAY_MS - 1, null)).toEqual([
      { resolution: "minute", from: T0, to: T0 + DAY_MS },
    ]);
  });
});
