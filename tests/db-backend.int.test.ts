/**
 * FerretDB's other backend kept working: the one the stack does not run by default
 * (TRELLIS_DB_BACKEND; docs/decisions/database-backend.md), started by the harness as `npm start`
 * would (on postgresql, a PostgreSQL cluster of its own under FerretDB), serves the platform's
 * basic write and read path through real services; a stop leaves no process behind, and what was
 * acknowledged is there after the servers start again on the same data. Always local binaries,
 * whatever TRELLIS_STACK says (CI's container image is FerretDB on the default backend).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DbBackend, DEFAULT_DB_BACKEND, type Dependency, startFerretBinaries } from "@trellis/stack";
import { useFileStack } from "@trellis/stack/vitest";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, loginBoth, type Platform, startPlatform, type Tokens } from "./support/platform.ts";

const stack = useFileStack();
const backend: DbBackend = DEFAULT_DB_BACKEND === "sqlite" ? "postgresql" : "sqlite";
const log = (line: string) => process.stderr.write(`${line}\n`);

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe(`FerretDB on ${backend} (not the default backend)`, () => {
  let dataDir: string;
  let servers: { mongo: Dependency; postgres?: Dependency } | undefined;
  let platform: Platform | undefined;
  let admin: Tokens;
  const monitor = { id: randomBytes(16).toString("hex"), password: "Monitor-Pass-1", token: "" };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "trellis-db-backend-"));
    servers = await startFerretBinaries({ dataDir, backend, log });
    platform = await startPlatform({
      stack: { ...stack, mongoUrl: servers.mongo.url },
      services: ["auth", "telemetry"],
    });
    admin = await loginBoth(platform.base, ADMIN.username, ADMIN.password);
  }, 90_000);

  afterAll(async () => {
    await platform?.stop();
    await servers?.mongo.stop();
    await servers?.postgres?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs on that backend", async () => {
    expect(Boolean(servers?.postgres)).toBe(backend === "postgresql");
    const client = await MongoClient.connect(servers?.mongo.url as string);
    try {
      const coll = client.db(`probe_${Date.now()}`).collection("c");
      await coll.insertOne({ k: 1 });
      // The query plan is the backend's own: PostgreSQL's plan nodes or SQLite's SCAN / SEARCH.
      const plan = JSON.stringify(await coll.find({ k: 1 }).explain());
      expect(plan).toMatch(backend === "postgresql" ? /"Node Type"/ : /SCAN|SEARCH/);
      await coll.db.dropDatabase();
    } finally {
      await client.close();
    }
  });

  it("stores a reading once acknowledged and reads it back (v1 and v2)", async () => {
    const base = (platform as Platform).base;
    const me = await http(base, "GET", "/api/v2/me", { bearer: admin.bearer });
    expect(me.status).toBe(200);
    const added = await http(base, "POST", "/api/v1/monitors/add", {
      json: { token: admin.v1Token, user_id: me.body.userId, monitor_id: monitor.id, password: monitor.password },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const logged = await http(base, "POST", "/api/v1/login/monitor", {
      json: { monitor_id: monitor.id, password: monitor.password },
    });
    expect(logged.status).toBe(200);
    monitor.token = logged.body.data.token;

    const v1 = await http(base, "POST", "/api/v1/monitors/update", {
      json: { token: monitor.token, monitor_id: monitor.id, ph: 6.25, electrical_conductivity: 1.5 },
    });
    expect(v1.status, JSON.stringify(v1.body)).toBe(200);
    const got = await http(base, "GET", `/api/v1/monitors/get?token=${admin.v1Token}&monitor_id=${monitor.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data.ph.value).toBe(6.25);
    expect(Object.values(got.body.data.ph.history)).toEqual([6.25]);

    const reading = { timestamp: Date.now(), ph: 6.5, electrical_conductivity: 1.75 };
    const v2 = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
      json: reading,
      bearer: monitor.token,
    });
    expect(v2.status, JSON.stringify(v2.body)).toBe(200);
    const latest = await http(base, "GET", `/api/v2/monitors/${monitor.id}/readings/latest`, { bearer: admin.bearer });
    expect(latest.status).toBe(200);
    expect(latest.body.values.ph).toMatchObject({ value: 6.5, at: reading.timestamp });
  });

  it("stops without leaving a process, and keeps what was stored across a restart", async () => {
    const telemetryDb = (platform as Platform).dbName("telemetry");
    await platform?.stop();
    platform = undefined;
    const pids = [servers?.mongo.process?.pid, servers?.postgres?.process?.pid].filter((p) => p !== undefined);
    expect(pids).toHaveLength(backend === "postgresql" ? 2 : 1);
    await servers?.mongo.stop();
    await servers?.postgres?.stop();
    expect(pids.filter(alive)).toEqual([]);

    servers = await startFerretBinaries({ dataDir, backend, log });
    const client = await MongoClient.connect(servers.mongo.url);
    try {
      const stored = await client
        .db(telemetryDb)
        .collection("monitors")
        .findOne({ _id: monitor.id as never });
      // Both readings of the previous test, acknowledged before the stop.
      expect(stored).toMatchObject({ _id: monitor.id, readingsStored: 2 });
    } finally {
      await client.close();
    }
  });
});
