/**
 * A round of readings counted exactly once in the monitor counters and minute rollups whatever
 * happened to earlier deliveries of its messages: a delivery that died after its inserts but
 * before its counter writes (the readings are stored, not counted), one that died after some
 * counter writes (some counted, then redelivered in another grouping), or one that completed but
 * whose ack was lost (all counted, redelivered whole). Driven in-process against the real
 * MongoDB-protocol server, with JetStream messages built by hand (no NATS needed for the rounds).
 */
import type { JsMsg } from "@nats-io/jetstream";
import { deviceSubjects } from "@trellis/contracts";
import { uniqueSuffix } from "@trellis/stack/testing";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { MonitorsStore } from "../store/monitors.ts";
import { BucketReadingsStore } from "../store/reading-buckets.ts";
import { RollupsStore } from "../store/rollups.ts";
import { ReadingsIngest, type ReadingsIngestOptions } from "./readings-consumer.ts";

const stack = inject("stack");
let client: MongoClient;
let db: Db;
let monitors: MonitorsStore;
let readings: BucketReadingsStore;
let rollups: RollupsStore;
const MINUTE = 1_764_540_000_000; // a minute boundary
const ids = ["a".repeat(32), "b".repeat(32)];

/** A reading message as the ingest consumer receives it; records whether it was acked. */
function msg(monitorId: string, seq: number, ph: number) {
  const state = { acked: false };
  const at = MINUTE + seq * 100;
  const m = {
    subject: deviceSubjects.readings(monitorId),
    data: new TextEncoder().encode(JSON.stringify({ timestamp: at, ph })),
    seq,
    redelivered: false,
    timestampNanos: BigInt(at) * 1_000_000n,
    ack() {
      state.acked = true;
    },
    nak() {},
    term() {},
  } as unknown as JsMsg;
  return { m, state };
}

/** The messages again, as JetStream redelivers them (flagged `redelivered`). */
const again = (round: readonly { m: JsMsg }[]): JsMsg[] =>
  round.map(({ m }) => Object.assign(Object.create(Object.getPrototypeOf(m)), m, { redelivered: true }) as JsMsg);

/** Readings in the buckets, counting a reading stored twice twice. */
const bucketReadings = async () =>
  (await db.collection("reading_buckets").find({}).toArray()).reduce((n, d) => n + (d.count as number), 0);

function ingest(extra: Partial<ReadingsIngestOptions> = {}): ReadingsIngest {
  return new ReadingsIngest({
    monitors,
    readings,
    rollups,
    batchSize: 500,
    roundSize: 5_000,
    maxWaitMs: 5,
    log: { debug() {}, warn() {}, error() {}, info() {} },
    events: { publish: async () => {} },
    ...extra,
  } as unknown as ReadingsIngestOptions);
}

const counted = async () => {
  const docs = await db.collection("monitors").find({}).sort({ _id: 1 }).toArray();
  return docs.map((d) => d.readingsStored as number);
};
const rollupOf = async (id: string) => {
  const doc = await db.collection("rollups").findOne({ _id: `${id}:${MINUTE}` as never });
  return doc?.m?.ph as { count: number; sum: number; sqCount: number; sumSq: number; min: number; max: number };
};

beforeAll(async () => {
  client = await new MongoClient(stack.mongoUrl).connect();
});
afterAll(async () => {
  await db?.dropDatabase().catch(() => {});
  await client?.close();
});
beforeEach(async () => {
  await db?.dropDatabase().catch(() => {});
  db = client.db(`t_ingest_once_${uniqueSuffix()}`);
  monitors = new MonitorsStore(db);
  readings = new BucketReadingsStore(db);
  rollups = new RollupsStore(db);
  await Promise.all([monitors, readings, rollups].map((s) => s.ensureIndexes()));
  for (const id of ids)
    await monitors.create({ _id: id, ownerId: "owner", createdAt: new Date(), readingsStored: 0, readingsRejected: 0 });
});

describe("readings ingest counts each reading once", () => {
  it("counts readings an earlier delivery inserted but died before counting", async () => {
    const round = Array.from({ length: 20 }, (_, i) => msg(ids[i % 2] as string, i + 1, 6 + i / 100));
    // The first delivery died between its inserts and its counter writes: stored, not counted.
    await readings.insertRound(
      round.map(({ m }, i) => ({
        seq: m.seq,
        monitorId: ids[i % 2] as string,
        at: MINUTE + m.seq * 100,
        values: { ph: 6 + i / 100 },
      })),
      false,
    );
    await ingest().process(again(round));
    expect(round.every((r) => r.state.acked)).toBe(true);
    expect(await counted()).toEqual([10, 10]);
    expect(await rollupOf(ids[0] as string)).toMatchObject({ count: 10, sqCount: 10 });
    expect(await rollupOf(ids[1] as string)).toMatchObject({ count: 10, sqCount: 10 });
    expect(await bucketReadings()).toBe(20);
  });

  it("does not count again a round redelivered after it was counted, whole or regrouped", async () => {
    const round = Array.from({ length: 30 }, (_, i) => msg(ids[i % 2] as string, i + 1, 5 + (i % 7)));
    const worker = ingest();
    await worker.process(round.map((r) => r.m));
    const once = { counts: await counted(), a: await rollupOf(ids[0] as string), b: await rollupOf(ids[1] as string) };
    expect(once.counts).toEqual([15, 15]);
    // The ack was lost: redelivered whole, then in other groupings, also by two instances at once.
    await worker.process(again(round));
    await ingest().process(again(round.slice(0, 17)));
    await ingest().process(again(round.slice(9)));
    // Two instances at once: stored at least once, and every read counts each reading once.
    await Promise.all([ingest().process(again(round.slice(3, 20))), ingest().process(again(round.slice(11)))]);
    expect(await counted()).toEqual(once.counts);
    expect(await readings.countStored(ids[0] as string)).toBe(15);
    expect(await readings.countStored(ids[1] as string)).toBe(15);
    expect(await rollupOf(ids[0] as string)).toEqual(once.a);
    expect(await rollupOf(ids[1] as string)).toEqual(once.b);
  });

  it("completes a round whose earlier delivery counted only part of it, with new readings alongside", async () => {
    const all = Array.from({ length: 40 }, (_, i) => msg(ids[i % 2] as string, i + 1, 6 + (i % 5) / 10));
    // One delivery counted the first 12 (a smaller round that completed), another died after
    // inserting readings 13-24; then 1-30 are delivered together, then 25-40 with 31-40 new.
    await ingest().process(all.slice(0, 12).map((r) => r.m));
    await readings.insertRound(
      all.slice(12, 24).map(({ m }, j) => ({
        seq: m.seq,
        monitorId: ids[(12 + j) % 2] as string,
        at: MINUTE + m.seq * 100,
        values: { ph: 6 + ((12 + j) % 5) / 10 },
      })),
      false,
    );
    await ingest().process([...again(all.slice(0, 24)), ...all.slice(24, 30).map((r) => r.m)]);
    await ingest().process([...again(all.slice(24, 30)), ...all.slice(30).map((r) => r.m)]);
    expect(await counted()).toEqual([20, 20]);
    const expected = (k: number) => {
      const values = all.filter((_, i) => i % 2 === k).map((_, j) => 6 + ((2 * j + k) % 5) / 10);
      return {
        count: 20,
        sqCount: 20,
        sum: expect.closeTo(
          values.reduce((s, v) => s + v, 0),
          9,
        ),
        sumSq: expect.closeTo(
          values.reduce((s, v) => s + v * v, 0),
          9,
        ),
        min: Math.min(...values),
        max: Math.max(...values),
      };
    };
    expect(await rollupOf(ids[0] as string)).toMatchObject(expected(0));
    expect(await rollupOf(ids[1] as string)).toMatchObject(expected(1));
    // Stored once each: the redelivered rounds left out what was stored.
    expect(await bucketReadings()).toBe(40);
  });

  it("prunes a monitor's list of counted sequences below the ack floor, still counting once", async () => {
    const id = ids[0] as string;
    let floor = 0;
    const worker = ingest({ ackFloor: () => floor });
    const rounds = Array.from({ length: 3 }, (_, r) =>
      Array.from({ length: 600 }, (_, i) => msg(id, r * 600 + i + 1, 6 + (i % 3) / 10)),
    );
    await worker.process((rounds[0] as ReturnType<typeof msg>[]).map((x) => x.m));
    floor = 600;
    await worker.process((rounds[1] as ReturnType<typeof msg>[]).map((x) => x.m));
    await worker.process((rounds[2] as ReturnType<typeof msg>[]).map((x) => x.m));
    const doc = await db.collection("monitors").findOne({ _id: id as never });
    expect(doc?.readingsStored).toBe(1_800);
    // Pruned once (1,200 pushed ≥ 1,000 at the second round's write, floor 600): 601..1800 remain.
    const list = (doc?.ingested ?? []) as number[];
    expect(list.length).toBe(1_200);
    expect(Math.min(...list)).toBe(601);
    // A redelivery of the last round (unacked, above the floor) still counts nothing.
    await worker.process(again(rounds[2] as ReturnType<typeof msg>[]));
    expect((await db.collection("monitors").findOne({ _id: id as never }))?.readingsStored).toBe(1_800);
  });
});
