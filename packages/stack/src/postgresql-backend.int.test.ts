/**
 * FerretDB on PostgreSQL (TRELLIS_DB_BACKEND=postgresql) with tools/ferretdb/patches applied: a find
 * by a top-level string or ObjectId equality (by _id, by telemetry's monitorId, a GridFS chunk by
 * {files_id, n}) searches the field's index instead of scanning the collection, with MongoDB's
 * equality rules (an array containing the value matches; other types and cases do not). Upstream
 * wrote `_jsonb->$1 @> $2`, which no index matches: every such find was a sequential scan
 * (postgresql-equality-pushdown.patch). Local binaries whatever TRELLIS_STACK says: a PostgreSQL
 * cluster of this file's own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, MongoClient, ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFerretBinaries } from "./stack.ts";
import type { Dependency } from "./types.ts";

let dataDir: string;
let servers: { mongo: Dependency; postgres?: Dependency } | undefined;
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "trellis-pg-backend-"));
  servers = await startFerretBinaries({ dataDir, backend: "postgresql" });
  client = await MongoClient.connect(servers.mongo.url);
  db = client.db("pushdown");
}, 90_000);

afterAll(async () => {
  await client?.close();
  await servers?.mongo.stop();
  await servers?.postgres?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** PostgreSQL's plan of a find, as FerretDB's explain returns it. */
const planOf = async (collection: string, filter: object) =>
  JSON.stringify(await db.collection(collection).find(filter).explain());

describe("FerretDB on PostgreSQL, patched", () => {
  it("finds by _id and by an indexed string field through the index, with MongoDB's equality rules", async () => {
    const readings = db.collection("readings");
    await readings.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
    const docs = Array.from({ length: 5_000 }, (_, i) => ({ _id: `r${i}`, monitorId: `m${i % 50}`, at: i }));
    for (let i = 0; i < docs.length; i += 1_000) await readings.insertMany(docs.slice(i, i + 1_000) as never[]);
    await readings.insertMany([
      // Also equal to "m3" for MongoDB: an array containing it. Not equal: other types and cases.
      { _id: "array", monitorId: ["x", "m3"], at: 1 },
      { _id: "number", monitorId: 3, at: 3 },
      { _id: "upper", monitorId: "M3", at: 4 },
      { _id: "object", monitorId: { v: "m3" }, at: 5 },
      { _id: "missing", at: 6 },
      { _id: "quote's", monitorId: "it's", at: 7 },
    ] as never[]);

    const found = await readings.find({ monitorId: "m3" }).sort({ at: 1 }).toArray();
    expect(found.map((d) => d._id)).toEqual(["array", ...docs.filter((d) => d.monitorId === "m3").map((d) => d._id)]);
    expect(await readings.countDocuments({ monitorId: { $eq: "m3" } })).toBe(found.length);
    expect(await readings.findOne({ _id: "r4321" as never })).toMatchObject({ monitorId: "m21", at: 4321 });
    expect(await readings.findOne({ _id: "quote's" as never })).toMatchObject({ monitorId: "it's" });
    expect(await readings.countDocuments({ monitorId: "it's" })).toBe(1);

    for (const filter of [{ _id: "r4321" }, { monitorId: "m3" }, { monitorId: { $eq: "m3" } }]) {
      const plan = await planOf("readings", filter);
      expect(plan, JSON.stringify(filter)).toMatch(/Index Scan/);
      expect(plan, JSON.stringify(filter)).not.toMatch(/Seq Scan/);
    }
  });

  it("reads a GridFS chunk by {files_id: ObjectId, n} through the compound index", async () => {
    const chunks = db.collection("media.chunks");
    await chunks.createIndex({ files_id: 1, n: 1 }, { name: "files_id_1_n_1", unique: true });
    const ids = Array.from({ length: 20 }, () => new ObjectId());
    const docs = ids.flatMap((files_id) => Array.from({ length: 200 }, (_, n) => ({ files_id, n })));
    for (let i = 0; i < docs.length; i += 1_000) await chunks.insertMany(docs.slice(i, i + 1_000));
    const a = ids[7] as ObjectId;

    expect(await chunks.findOne({ files_id: a, n: 123 })).toMatchObject({ files_id: a, n: 123 });
    expect(await chunks.countDocuments({ files_id: a })).toBe(200);
    expect(await chunks.countDocuments({ files_id: a, n: 5 })).toBe(1);
    // An ObjectId is not equal to its hex string (both are the same JSON string in the index).
    expect(await chunks.countDocuments({ files_id: a.toHexString() })).toBe(0);

    const plan = await planOf("media.chunks", { files_id: a, n: 123 });
    expect(plan).toMatch(/Index Scan/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
