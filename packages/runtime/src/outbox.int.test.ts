/**
 * The outbox helper against real servers: FerretDB (the shared one) and a NATS server of this
 * file's own, stopped and started again on the same port and store dir for the outage cases.
 */
import { DeliverPolicy, type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Dependency, startNats } from "@trellis/stack";
import { poll, uniqueSuffix } from "@trellis/stack/testing";
import { type Collection, type Db, MongoClient } from "mongodb";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ensureStream } from "./jetstream.ts";
import { Outbox, type OutboxEntry } from "./outbox.ts";
import { encodeJson } from "./serve.ts";

const shared = inject("stack");
const log = pino({ level: "silent" });

let nats: Dependency;
let nc: NatsConnection;
let js: JetStreamClient;
let mongo: MongoClient;
let db: Db;
const suffix = uniqueSuffix();
const STREAM = `T_OUTBOX_${suffix}`;
const SUBJECT = `test.outbox.${suffix}`;

interface Entry extends OutboxEntry {
  n: number;
}
interface StateDoc {
  _id: string;
  state: number;
  outbox?: Record<string, Entry>;
  outboxDueAt?: number;
}

/** Every message in the stream for a holder, as `n`s. */
async function stored(holder: string): Promise<number[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(STREAM);
  if (info.state.messages === 0) return [];
  const consumer = await js.consumers.get(STREAM, {
    filter_subjects: [`${SUBJECT}.${holder}`],
    deliver_policy: DeliverPolicy.All,
  });
  const out: number[] = [];
  const pending = (await consumer.info()).num_pending;
  if (pending === 0) return out;
  const batch = await consumer.fetch({ max_messages: pending, expires: 2_000 });
  for await (const m of batch) {
    out.push((m.json() as { n: number }).n);
    if (out.length === pending) break;
  }
  return out;
}

const deliverer = (calls: string[]) => async (holderId: string, e: Entry) => {
  calls.push(`${holderId}/${e.id}`);
  await js.publish(`${SUBJECT}.${holderId}`, encodeJson({ n: e.n }), { msgID: `${holderId}:${e.id}`, timeout: 1_000 });
};

function outboxOn(
  collection: Collection<StateDoc>,
  calls: string[],
  extra: Partial<ConstructorParameters<typeof Outbox<Entry>>[0]> = {},
) {
  return new Outbox<Entry>({
    collection,
    deliver: deliverer(calls),
    log,
    retryAfterMs: 200,
    sweepIntervalMs: 100,
    order: (a, b) => a.n - b.n,
    ...extra,
  });
}

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({
    servers: nats.url,
    user: nats.natsAuth?.user ?? "",
    pass: nats.natsAuth?.password ?? "",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  js = jetstream(nc);
  await ensureStream(nc, { name: STREAM, subjects: [`${SUBJECT}.>`] });
  mongo = await MongoClient.connect(shared.mongoUrl);
  db = mongo.db(`t_outbox_${suffix}`);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await db?.dropDatabase().catch(() => {});
  await mongo?.close();
  await nats?.stop();
});

describe("Outbox", () => {
  it("commits entries with the state change, publishes each once, then removes them", async () => {
    const states = db.collection<StateDoc>(`states_${uniqueSuffix()}`);
    const calls: string[] = [];
    const outbox = outboxOn(states, calls);
    await outbox.ensureIndexes();
    await states.insertOne({ _id: "m1", state: 0, ...outbox.insertFields([]) });
    const entries = [
      { id: "b", n: 2 },
      { id: "a", n: 1 },
    ];
    const committedAt = Date.now();
    const p = outbox.pendingUpdate(entries, committedAt);
    await states.updateOne(
      { _id: "m1", state: 0 },
      { $set: { state: 1, ...p.$set }, ...(p.$min ? { $min: p.$min } : {}) },
    );
    const committed = await states.findOne({ _id: "m1" });
    expect(Object.keys(committed?.outbox ?? {}).sort()).toEqual(["a", "b"]);
    expect(committed?.outboxDueAt).toBe(committedAt + 200); // the sweeper's after retryAfterMs

    await outbox.deliverNow("m1", entries);
    expect(calls).toEqual(["m1/a", "m1/b"]); // in order
    expect(await stored("m1")).toEqual([1, 2]);
    const after = await states.findOne({ _id: "m1" });
    expect(after).toMatchObject({ state: 1, outbox: {} });
    expect(after?.outboxDueAt).toBeUndefined();
    // Nothing is due: a sweep claims nothing and publishes nothing.
    expect(await outbox.sweep(Date.now() + 60_000)).toBe(0);
    expect(calls).toHaveLength(2);
  });

  it("NATS down at the publish: the entry stays; after NATS returns the sweeper publishes it, stored exactly once", async () => {
    const states = db.collection<StateDoc>(`states_${uniqueSuffix()}`);
    const calls: string[] = [];
    const outbox = outboxOn(states, calls);
    const entry = { id: "raised", n: 7 };
    const p = outbox.pendingUpdate([entry]);
    await states.insertOne({ _id: "m2", state: 0 });

    await nats.outage?.down();
    try {
      await states.updateOne({ _id: "m2" }, { $set: { state: 1, ...p.$set }, ...(p.$min ? { $min: p.$min } : {}) });
      await outbox.deliverNow("m2", [entry]); // fails (no server): left to the sweeper
      expect(calls).toEqual(["m2/raised"]);
      expect(Object.keys((await states.findOne({ _id: "m2" }))?.outbox ?? {})).toEqual(["raised"]);
      // A sweep while NATS is still down claims it, fails, and leaves it pending again.
      await outbox.sweep(Date.now() + 1_000);
      expect(Object.keys((await states.findOne({ _id: "m2" }))?.outbox ?? {})).toEqual(["raised"]);
    } finally {
      await nats.outage?.up();
    }
    outbox.start();
    try {
      const { value } = await poll(
        async () => (await states.findOne({ _id: "m2" }))?.outbox ?? { pending: entry },
        (o) => Object.keys(o).length === 0,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      expect(value).toEqual({});
    } finally {
      await outbox.stop();
    }
    // Every attempt used the same message id: the stream holds it once, however many publishes reached it.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(await stored("m2")).toEqual([7]);
  }, 60_000);

  it("two instances sweeping the same holders: each claims a holder once, each entry is delivered once", async () => {
    const states = db.collection<StateDoc>(`states_${uniqueSuffix()}`);
    const calls: string[] = [];
    const [a, b] = [outboxOn(states, calls), outboxOn(states, calls)];
    // Entries left behind by a dead instance: committed, never delivered.
    const holders = Array.from({ length: 20 }, (_, i) => `h${i}`);
    for (const [i, id] of holders.entries()) {
      await states.insertOne({ _id: id, state: 1, ...a.insertFields([{ id: "e", n: i }], Date.now() - 1_000) });
    }
    const later = Date.now() + 1_000;
    const [claimedA, claimedB] = await Promise.all([a.sweep(later), b.sweep(later)]);
    expect(claimedA + claimedB).toBe(20);
    expect(calls.sort()).toEqual(holders.map((h) => `${h}/e`).sort());
    expect(await states.countDocuments({ outboxDueAt: { $exists: true } })).toBe(0);
  });

  it("a failed entry stops its holder's chain (order kept) until a sweep delivers the rest", async () => {
    const states = db.collection<StateDoc>(`states_${uniqueSuffix()}`);
    const calls: string[] = [];
    let failOnce = true;
    const outbox = outboxOn(states, calls, {
      deliver: async (holderId, e) => {
        if (e.id === "b" && failOnce) {
          failOnce = false;
          throw new Error("publish timed out");
        }
        await deliverer(calls)(holderId, e);
      },
    });
    const entries = [
      { id: "a", n: 1 },
      { id: "b", n: 2 },
      { id: "c", n: 3 },
    ];
    await states.insertOne({ _id: "m3", state: 1, ...outbox.insertFields(entries) });
    await outbox.deliverNow("m3", entries);
    expect(calls).toEqual(["m3/a"]);
    expect(Object.keys((await states.findOne({ _id: "m3" }))?.outbox ?? {}).sort()).toEqual(["b", "c"]);
    expect(await outbox.sweep(Date.now() + 1_000)).toBe(1);
    expect(calls).toEqual(["m3/a", "m3/b", "m3/c"]);
    expect(await stored("m3")).toEqual([1, 2, 3]);
  });

  it("in a collection of its own: `add` before the change, `discard` when it did not happen, holders removed once sent", async () => {
    const pending = db.collection<StateDoc>(`outbox_${uniqueSuffix()}`);
    const calls: string[] = [];
    const outbox = outboxOn(pending, calls, { ownCollection: true });
    await outbox.add("deleted:v1", [{ id: "deleted", n: 1 }]);
    await outbox.add("deleted:v2", [{ id: "deleted", n: 2 }]);
    expect(await pending.countDocuments()).toBe(2);
    await outbox.discard("deleted:v2", ["deleted"]);
    await outbox.deliverNow("deleted:v1", [{ id: "deleted", n: 1 }]);
    expect(await pending.countDocuments()).toBe(0);
    expect(calls).toEqual(["deleted:v1/deleted"]);
  });
});
