import { describe, expect, it } from "vitest";
import {
  ascending,
  BUCKET_SPAN_MS,
  type BucketDoc,
  bucketsOf,
  descending,
  PointCollector,
  type PointOf,
  planTrim,
  pointsOf,
} from "./buckets.ts";

const M = 1_764_540_000_000; // a minute boundary
const p = (monitorId: string, seq: number, at: number, ph?: number): PointOf => ({
  monitorId,
  seq,
  at,
  values: ph === undefined ? {} : { ph },
});

describe("bucketsOf", () => {
  it("makes one bucket per monitor and minute, in stream order, with bounds, count and summaries", () => {
    const docs = bucketsOf([
      p("b", 4, M + 10, 7),
      p("a", 2, M + 500, 6),
      p("a", 1, M + 100, 5),
      p("a", 3, M + 61_000, 8),
    ]);
    expect(docs.map((d) => d._id).sort()).toEqual(["a:1", "a:3", "b:4"]);
    const a1 = docs.find((d) => d._id === "a:1") as BucketDoc;
    expect(a1).toMatchObject({ monitorId: "a", minAt: M + 100, maxAt: M + 500, count: 2, seq: [1, 2] });
    expect(a1.at).toEqual([M + 100, M + 500]);
    expect(a1.summary.ph).toEqual({ count: 2, min: 5, max: 6, sum: 11 });
    // Every reading of a bucket lies in the minute of its minAt.
    for (const d of docs) expect(Math.floor(d.maxAt / BUCKET_SPAN_MS)).toBe(Math.floor(d.minAt / BUCKET_SPAN_MS));
  });

  it("splits a large group and leaves measurements a reading lacks out of its summary", () => {
    const points = Array.from({ length: 25 }, (_, i) => p("a", i + 1, M + i, i % 2 ? 6 : undefined));
    const docs = bucketsOf(points, 10);
    expect(docs.map((d) => d.count)).toEqual([10, 10, 5]);
    expect(docs.flatMap(pointsOf).map((x) => x.seq)).toEqual(points.map((x) => x.seq));
    expect(docs[0]?.summary.ph?.count).toBe(5);
  });

  it("orders readings of one millisecond by stream sequence", () => {
    const xs = [
      { seq: 10, at: 5, values: {} },
      { seq: 9, at: 5, values: {} },
      { seq: 1, at: 6, values: {} },
    ];
    expect([...xs].sort(ascending).map((x) => x.seq)).toEqual([9, 10, 1]);
    expect([...xs].sort(descending).map((x) => x.seq)).toEqual([1, 10, 9]);
  });
});

describe("PointCollector", () => {
  it("keeps the first `limit` in the window, deduplicated by sequence, and knows when later buckets cannot matter", () => {
    const c = new PointCollector({ from: M + 2, after: M + 2 }, 3, "asc");
    const [b1, b2, b3] = bucketsOf([
      p("a", 1, M + 1),
      p("a", 2, M + 3),
      p("a", 3, M + 4),
      p("a", 4, M + 60_500),
      p("a", 5, M + 120_000),
    ]) as BucketDoc[];
    c.add(b1 as BucketDoc);
    c.add(b1 as BucketDoc); // the same readings twice (a duplicate bucket) count once
    expect(c.done(M + 60_000)).toBe(false); // only two so far
    c.add(b2 as BucketDoc);
    expect(c.result().map((x) => x.seq)).toEqual([2, 3, 4]);
    expect(c.done(M + 120_000)).toBe(true); // that minute starts after the third
    expect(b3?.seq).toEqual([5]);
  });

  it("newest first: stops once a minute ends before the limit-th newest", () => {
    const c = new PointCollector({}, 2, "desc");
    const docs = bucketsOf([p("a", 1, M + 1), p("a", 2, M + 60_001), p("a", 3, M + 60_002)]);
    c.add(docs[1] as BucketDoc);
    expect(c.done(M)).toBe(true);
    expect(c.result().map((x) => x.seq)).toEqual([3, 2]);
    const d = new PointCollector({}, 2, "desc");
    d.add(bucketsOf([p("a", 2, M + 60_001)])[0] as BucketDoc);
    d.add(bucketsOf([p("a", 3, M + 50)])[0] as BucketDoc);
    // A bucket of minute M may still hold a reading newer than M + 50.
    expect(d.done(M)).toBe(false);
  });
});

describe("planTrim", () => {
  const docs = bucketsOf(Array.from({ length: 12 }, (_, i) => p("a", i + 1, M + Math.floor(i / 4) * 60_000 + i)));

  it("deletes whole old buckets and rewrites the one that straddles the cut, exactly `limit`", () => {
    const plan = planTrim(docs, M + 60_000 + 6, 100); // readings 1-4, then 5-6 of the second bucket
    expect(plan.deleteIds).toEqual(["a:1"]);
    expect(plan.deleted).toBe(6);
    expect(plan.rewrite?.keep?.seq).toEqual([7, 8]);
    expect(plan.rewrite?.keep?._id).toBe("a:5");
  });

  it("stops at the limit inside a bucket", () => {
    const plan = planTrim(docs, M + 10 * 60_000, 6);
    expect(plan.deleted).toBe(6);
    expect(plan.deleteIds).toEqual(["a:1"]);
    expect(plan.rewrite?.keep?.seq).toEqual([7, 8]);
  });

  it("deletes a bucket all of whose readings go, and nothing when none is old", () => {
    const all = planTrim(docs.slice(0, 1), M + 60_000, 4);
    expect(all).toMatchObject({ deleteIds: ["a:1"], deleted: 4 });
    expect(planTrim(docs, M, 10)).toEqual({ deleteIds: [], deleted: 0 });
  });
});
