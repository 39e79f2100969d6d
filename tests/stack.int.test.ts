import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { uniqueSuffix } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import { describe, expect, inject, it } from "vitest";

const stack = inject("stack");
// A NATS server of this file's own as well: per-file servers must come from the same place and be
// configured the same way (JetStream, the services' login) as the shared one.
const own = useFileStack();

describe("the dependency harness gives real servers", () => {
  it("reports where each server came from", () => {
    // CI sets TRELLIS_EXPECT_STACK=container so a silent fallback to local binaries fails the run.
    const expected = process.env.TRELLIS_EXPECT_STACK;
    for (const via of [...Object.values(stack.via), own.via.nats]) {
      expect(["env", "container", "binary"]).toContain(via);
      if (expected) expect(via).toBe(expected);
    }
    // Its own unless the environment names one server for everything (TRELLIS_NATS_URL).
    if (own.via.nats !== "env") expect(own.natsUrl).not.toBe(stack.natsUrl);
  });

  it("MongoDB protocol: the official driver writes, reads and indexes", async () => {
    const client = new MongoClient(stack.mongoUrl, { serverSelectionTimeoutMS: 5_000 });
    await client.connect();
    try {
      const db = client.db(`harness_${uniqueSuffix()}`);
      const info = await db.admin().command({ buildInfo: 1 });
      expect(String(info.version)).toMatch(/^\d+\.\d+/);
      const col = db.collection<{ _id: string; n: number }>("things");
      await col.createIndex({ n: 1 }, { unique: true });
      await col.insertMany([
        { _id: "a", n: 1 },
        { _id: "b", n: 2 },
      ]);
      await expect(col.insertOne({ _id: "c", n: 1 })).rejects.toMatchObject({ code: 11000 });
      const updated = await col.findOneAndUpdate({ _id: "a" }, { $inc: { n: 10 } }, { returnDocument: "after" });
      expect(updated?.n).toBe(11);
      expect(await col.countDocuments()).toBe(2);
      await db.dropDatabase();
    } finally {
      await client.close();
    }
  });

  it("NATS with JetStream: a stream stores a published message (shared and per-file server)", async () => {
    for (const server of [stack, own]) {
      const nc = await connect({ servers: server.natsUrl, user: server.natsUser, pass: server.natsPassword });
      try {
        const jsm = await jetstreamManager(nc);
        const name = `HARNESS_${uniqueSuffix()}`;
        await jsm.streams.add({ name, subjects: [`${name}.>`] });
        const ack = await jsm.jetstream().publish(`${name}.x`, "hello");
        expect(ack.seq).toBe(1);
        expect((await jsm.streams.info(name)).state.messages).toBe(1);
        await jsm.streams.delete(name);
      } finally {
        await nc.close();
      }
    }
  });

  it("Redis: commands BullMQ relies on work", async () => {
    const redis = new Redis(stack.redisUrl);
    try {
      const key = `harness:${uniqueSuffix()}`;
      expect(await redis.ping()).toBe("PONG");
      await redis.xadd(key, "*", "f", "v");
      expect(await redis.xlen(key)).toBe(1);
      expect(await redis.eval("return redis.call('del', KEYS[1])", 1, key)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});
