/**
 * What the services assume of the MongoDB-protocol server, checked against the one the harness
 * provides (MongoDB 7, or FerretDB on SQLite or PostgreSQL with tools/ferretdb/patches applied): single-document updates
 * are atomic, so concurrent `$inc`s all count and a conditional update has exactly one winner; a
 * find by an indexed string field searches the index instead of reading the whole collection,
 * with MongoDB's matching rules (an array containing the value matches); a GridFS chunk lookup
 * `{files_id, n}` (an ObjectId or a string, and an integer) reads one chunk through the compound
 * index, not every chunk of the file. A bulk write of many upserts to one collection completes, also
 * with other clients writing and reading it at once (FerretDB held a pooled SQLite connection per
 * matched statement until the end of the command, and hung on its 100th).
 */
import { type Db, Double, MongoClient, ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueSuffix } from "./testing.ts";

const stack = inject("stack");
/** FerretDB on PostgreSQL explains with PostgreSQL's plan nodes. */
const onPostgres = (plan: string) => /"Node Type"/.test(plan);
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

  it("finds by an indexed string field through the index, with MongoDB's equality rules", async () => {
    const readings = db.collection("readings");
    await readings.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
    const docs = Array.from({ length: 2_000 }, (_, i) => ({ _id: `r${i}`, monitorId: `m${i % 20}`, at: i }));
    await readings.insertMany([
      ...docs,
      // Also equal to "m3" for MongoDB: an array containing it. Not equal: other types and cases.
      { _id: "array", monitorId: ["x", "m3"], at: 1 },
      { _id: "number", monitorId: 3, at: 3 },
      { _id: "upper", monitorId: "M3", at: 4 },
      { _id: "missing", at: 5 },
    ] as never[]);

    const found = await readings.find({ monitorId: "m3" }).sort({ at: 1 }).toArray();
    expect(found.map((d) => d._id)).toEqual(["array", ...docs.filter((d) => d.monitorId === "m3").map((d) => d._id)]);
    const windowed = await readings.find({ monitorId: "m3", at: { $gte: 100, $lt: 200 } }).toArray();
    expect(windowed.map((d) => d.at).sort((a, b) => a - b)).toEqual([103, 123, 143, 163, 183]);
    // Strings the two servers' JSON encoders could write differently are still found.
    await readings.insertOne({ _id: "odd", monitorId: 'a<b>&"c"\\é', at: 9 } as never);
    expect(await readings.countDocuments({ monitorId: 'a<b>&"c"\\é' })).toBe(1);

    const plan = JSON.stringify(await readings.find({ monitorId: "m3" }).explain());
    const ferret = "ferretdbVersion" in (await db.admin().command({ buildInfo: 1 }));
    // FerretDB shows SQLite's plan ("SEARCH ... USING INDEX" rather than "SCAN") or PostgreSQL's
    // (TRELLIS_DB_BACKEND=postgresql: an index scan, not a "Seq Scan"); MongoDB an IXSCAN.
    expect(plan).toMatch(onPostgres(plan) ? /Index Scan/ : ferret ? /SEARCH [^"]*USING INDEX/ : /IXSCAN/);
  });

  it("finds by ObjectId and integer equality through a compound index, with MongoDB's number rules", async () => {
    const chunks = db.collection("media.chunks");
    await chunks.createIndex({ files_id: 1, n: 1 }, { name: "files_id_1_n_1", unique: true });
    const a = new ObjectId();
    const b = new ObjectId();
    const docs = [a, b].flatMap((files_id) => Array.from({ length: 300 }, (_, n) => ({ files_id, n })));
    await chunks.insertMany(docs);
    const found = await chunks.findOne({ files_id: a, n: 123 });
    expect(found).toMatchObject({ files_id: a, n: 123 });
    expect(await chunks.countDocuments({ files_id: b, n: 0 })).toBe(1);

    // MongoDB compares numbers by value (int32, int64, double; -0 equals 0) and matches arrays
    // containing the value; an ObjectId is not equal to its hex string.
    const odd = db.collection("numbers");
    await odd.createIndex({ k: 1, v: 1 });
    await odd.insertMany([
      { _id: "int", k: a, v: 5 },
      { _id: "double", k: a, v: new Double(5) },
      { _id: "array", k: [a], v: [1, 5] },
      { _id: "hex", k: a.toHexString(), v: 5 },
      { _id: "fraction", k: a, v: 5.5 },
      { _id: "string", k: a, v: "5" },
      { _id: "zero", k: a, v: 0 },
      { _id: "negative-zero", k: a, v: -0 },
    ] as never[]);
    const ids = async (filter: object) => (await odd.find(filter).toArray()).map((d) => String(d._id)).sort();
    expect(await ids({ k: a, v: 5 })).toEqual(["array", "double", "int"]);
    expect(await ids({ k: a, v: 0 })).toEqual(["negative-zero", "zero"]);
    expect(await ids({ k: a.toHexString(), v: 5 })).toEqual(["hex"]);

    const plan = JSON.stringify(await chunks.find({ files_id: a, n: 123 }).explain());
    const ferret = "ferretdbVersion" in (await db.admin().command({ buildInfo: 1 }));
    // Both fields searched in the index (FerretDB: SQLite's "(<expr>=? AND <expr>=?)"), not
    // every chunk of the file read and filtered.
    expect(plan).toMatch(
      onPostgres(plan) ? /Index Scan/ : ferret ? /USING INDEX [^"]*\(<expr>=\? AND <expr>=\?\)/ : /IXSCAN/,
    );
    // GridFSBucket deletes and aborts with {files_id: {$eq: id}}: the same search.
    const eqPlan = JSON.stringify(await chunks.find({ files_id: { $eq: a } }).explain());
    expect(eqPlan).toMatch(onPostgres(eqPlan) ? /Index Scan/ : ferret ? /SEARCH [^"]*USING INDEX/ : /IXSCAN/);
    expect(await chunks.countDocuments({ files_id: { $eq: a } })).toBe(300);
  });

  it("completes concurrent bulk writes of many upserts to one collection", async () => {
    const name = db.databaseName;
    const ids = Array.from({ length: 200 }, (_, i) => `k${i}`);
    await db.collection("bulk").insertMany(ids.map((_id) => ({ _id, n: 0 })) as never[]);
    // Every statement matches an existing document; the other clients update and read it meanwhile.
    const work = Promise.all(
      clients.map(async (client, c) => {
        const coll = client.db(name).collection("bulk");
        await Promise.all([
          coll.bulkWrite(
            ids.map((_id) => ({ updateOne: { filter: { _id }, update: { $inc: { n: 1 } }, upsert: true } })) as never[],
          ),
          ...ids.slice(0, 20).map((_id) => coll.updateOne({ _id } as never, { $set: { [`by${c}`]: true } })),
          ...ids.slice(0, 20).map((_id) => coll.findOne({ _id } as never)),
        ]);
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("bulk upserts did not complete within 20 s")), 20_000);
    });
    try {
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
    const docs = await db.collection("bulk").find().toArray();
    expect(docs).toHaveLength(200);
    expect(docs.every((d) => d.n === clients.length)).toBe(true);
  }, 30_000);
});
