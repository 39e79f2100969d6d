/**
 * What the services assume of the MongoDB-protocol server, checked against the one the harness
 * provides (MongoDB 7, or FerretDB with tools/ferretdb/patches applied): single-document updates
 * are atomic, so concurrent `$inc`s all count and a conditional update has exactly one winner.
 */
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueSuffix } from "./testing.ts";

const stack = inject("stack");
let clients: MongoClient[] = [];
let db: Db;

beforeAll(async () => {
  // Separate clients: separate connections, so the updates really are concurrent on the server.
  clients = await Promise.all(Array.from({ length: 4 }, () => new MongoClient(stack.mongoUrl).connect()));
  db = (clients[0] as MongoClient).db(`t_server_${uniqueSuffix()}`);
});

afterAll(async () => {
  await db?.dropDatabase().catch(() => {});
  await Promise.all(clients.map((c) => c.close()));
});

describe("MongoDB-protocol server", () => {
  it("counts every one of concurrent $inc updates of one document", async () => {
    const name = db.databaseName;
    await db.collection("counters").insertOne({ _id: "c" as never, n: 0 });
    await Promise.all(
      clients.map(async (client) => {
        const coll = client.db(name).collection("counters");
        for (let i = 0; i < 50; i++) await coll.updateOne({ _id: "c" as never }, { $inc: { n: 1 } });
      }),
    );
    expect(await db.collection("counters").findOne({ _id: "c" as never })).toMatchObject({ n: 200 });
  });

  it("lets exactly one of concurrent conditional updates of one document win", async () => {
    const name = db.databaseName;
    for (let round = 0; round < 10; round++) {
      const _id = `token-${round}` as never;
      await db.collection("tokens").insertOne({ _id, used: false });
      const results = await Promise.all(
        clients.map((client) =>
          client
            .db(name)
            .collection("tokens")
            .findOneAndUpdate({ _id, used: false }, { $set: { used: true } }),
        ),
      );
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    }
  });
});
