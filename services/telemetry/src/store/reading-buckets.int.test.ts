/**
 * The bucket layout answers every read exactly as the per-reading layout did, on the real
 * MongoDB-protocol server: the same readings stored both ways (in rounds of random sizes, out of
 * time order, some redelivered), then pages with cursors, newest-first windows, counts and
 * retention deletes compared.
 */
import { uniqueSuffix } from "@trellis/stack/testing";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { PointOf, StoredPoint } from "../domain/buckets.ts";
import { openReadingsStore } from "./open-readings.ts";
import { BucketReadingsStore } from "./reading-buckets.ts";
import { ReadingDocsStore } from "./reading-docs.ts";

const stack = inject("stack");
let client: MongoClient;
let db: Db;
let buckets: BucketReadingsStore;
let docs: ReadingDocsStore;
const T0 = 1_764_540_000_000;
const monitors = ["a".repeat(32), "b".repeat(32), "c".repeat(32)];

/** A deterministic pseudo-random sequence (so a failure can be replayed). */
function rng(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
}

const points: PointOf[] = [];

beforeAll(async () => {
  client = await new MongoClient(stack.mongoUrl).connect();
  db = client.db(`t_buckets_${uniqueSuffix()}`);
  buckets = new BucketReadingsStore(db);
  docs = new ReadingDocsStore(db);
  await Promise.all([buckets.ensureIndexes(), docs.ensureIndexes()]);
  const random = rng(17);
  // ~2,400 readings over ~3 hours, mostly in time order, some late; distinct times per monitor.
  const used = new Set<string>();
  for (let seq = 1; seq <= 2_400; seq++) {
    const monitorId = monitors[Math.floor(random() * 3)] as string;
    let at = T0 + seq * 4_000 + Math.floor(random() * 1_000);
    if (random() < 0.05) at -= Math.floor(random() * 600_000); // a late reading
    while (used.has(`${monitorId}:${at}`)) at += 1;
    used.add(`${monitorId}:${at}`);
    const values =
      random() < 0.1
        ? { electrical_conductivity: Math.round(random() * 100) / 10 }
        : { ph: Math.round(random() * 140) / 10 };
    points.push({ monitorId, seq, at, values });
  }
  for (let i = 0; i < points.length; ) {
    const size = 1 + Math.floor(random() * 300);
    const round = points.slice(i, i + size);
    await Promise.all([buckets.insertRound(round, false), docs.insertRound(round)]);
    // Now and then the round is redelivered, whole or in part.
    if (random() < 0.2) await buckets.insertRound(round.slice(Math.floor(size / 3)), true);
    i += size;
  }
}, 120_000);

afterAll(async () => {
  await db?.dropDatabase().catch(() => {});
  await client?.close();
});

const strip = (xs: StoredPoint[]) => xs.map((x) => ({ seq: x.seq, at: x.at, values: x.values }));

describe("buckets answer as one document per reading did", () => {
  it("stores each reading once, redeliveries included", async () => {
    const stored = await db.collection("reading_buckets").find({}).toArray();
    expect(stored.reduce((n, d) => n + (d.count as number), 0)).toBe(points.length);
    expect(stored.length).toBeLessThan(points.length / 3);
    for (const m of monitors) expect(await buckets.countStored(m)).toBe(await docs.countStored(m));
  });

  it("pages through every window with cursors exactly as before", async () => {
    const windows = [{}, { to: T0 + 5_000_000 }, { from: T0 + 2_345_678, to: T0 + 7_000_000 }, { from: T0 + 9e9 }];
    for (const m of monitors) {
      for (const w of windows) {
        for (const limit of [7, 250, 5_000]) {
          let after: number | undefined;
          // Every page of the larger limits; the first 15 of the smallest (each page reads the
          // monitor's documents: the server sorts in memory).
          for (let pages = 0; pages < (limit < 10 ? 8 : 400); pages++) {
            const [mine, before] = await Promise.all([buckets.page(m, w, limit, after), docs.page(m, w, limit, after)]);
            expect(strip(mine), JSON.stringify({ m, w, limit, after })).toEqual(strip(before));
            if (mine.length < limit) break;
            after = mine.at(-1)?.at;
          }
        }
      }
    }
  }, 120_000);

  it("answers newest-first windows exactly as before", async () => {
    for (const m of monitors) {
      for (const w of [{}, { from: T0 + 3_000_000 }, { to: T0 + 4_000_000 }, { from: T0 + 100, to: T0 + 600_000 }]) {
        for (const limit of [1, 333, 100_000]) {
          expect(strip(await buckets.newest(m, w, limit))).toEqual(strip(await docs.newest(m, w, limit)));
        }
      }
    }
  }, 60_000);

  it("deletes exactly `limit` old readings per batch, whole buckets and one rewritten, leaving the rest", async () => {
    const m = monitors[0] as string;
    const cut = T0 + 3_000_000;
    const oldCount = points.filter((x) => x.monitorId === m && x.at < cut).length;
    let deleted = 0;
    for (let i = 0; i < 1_000; i++) {
      const n = await buckets.deleteOlderBatch(m, cut, 37);
      if (n === 0) break;
      if (deleted + n < oldCount) expect(n).toBe(37);
      deleted += n;
    }
    expect(deleted).toBe(oldCount);
    await docs.deleteOlderBatch(m, cut, 1_000_000);
    expect(strip(await buckets.page(m, {}, 10_000))).toEqual(strip(await docs.page(m, {}, 10_000)));
    expect((await buckets.page(m, {}, 1))[0]?.at).toBeGreaterThanOrEqual(cut);
  });

  it("stores a reading whose bucket id another instance took with fewer readings (a race with a redelivery)", async () => {
    const m = "d".repeat(32);
    const round = [1, 2, 3].map((i) => ({ monitorId: m, seq: 90_000 + i, at: T0 + i, values: { ph: i } }));
    // The redelivery stored readings 1 and 2 first, as bucket `d…:90001`; the first delivery,
    // still in flight, writes all three under the same id.
    await buckets.insertRound(round.slice(0, 2), true);
    await buckets.insertRound(round, false);
    expect(strip(await buckets.page(m, {}, 10))).toEqual(round.map(({ seq, at, values }) => ({ seq, at, values })));
    const stored = await db.collection("reading_buckets").find({ monitorId: m }).toArray();
    expect(stored.reduce((n, d) => n + (d.count as number), 0)).toBe(3);
  });

  it("orders readings of one millisecond by stream sequence", async () => {
    const m = "e".repeat(32);
    await buckets.insertRound(
      [12, 9, 10].map((seq) => ({ monitorId: m, seq, at: T0, values: { ph: seq } })),
      false,
    );
    expect((await buckets.page(m, {}, 10)).map((x) => x.seq)).toEqual([9, 10, 12]);
    expect((await buckets.newest(m, {}, 10)).map((x) => x.seq)).toEqual([12, 10, 9]);
  });

  it("detects that this server (FerretDB) has no time-series collections and chooses buckets", async () => {
    expect((await openReadingsStore(db)).layout).toBe("buckets");
    expect((await openReadingsStore(db, "timeseries")).layout).toBe("timeseries");
  });
});
