/**
 * `npm run bench:db` — FerretDB on SQLite against FerretDB on PostgreSQL (TRELLIS_DB_BACKEND), on
 * this machine, in one run. Both servers run side by side (each started as the stack starts it,
 * packages/stack), and every measurement alternates between them round by round (A B, B A, ...),
 * so that noise from other work on the machine falls on both; the table gives each backend's
 * median and the ratio postgresql ÷ sqlite (> 1: PostgreSQL is faster, for rates).
 *
 * Workloads (reading-shaped documents as telemetry stores them, scripts/devices/readings.ts):
 * - insertMany: BENCH_DB_DOCS (20,000) documents in unordered batches of 500, BENCH_DB_IN_FLIGHT
 *   (4) batches in flight, into a fresh collection with telemetry's {monitorId, at} index;
 * - `$inc` by _id: 20 writers, each incrementing its own counter document (as telemetry's monitor
 *   counters), BENCH_DB_INCS (150) each;
 * - findOne by _id: 20 readers, BENCH_DB_FINDS (3,000) in all, random ids of a BENCH_DB_FIND_DOCS
 *   (10,000) document collection;
 * - GridFS: upload then download a BENCH_DB_GRIDFS_MIB (32) MiB file, MiB/s;
 * - telemetry's ingest rounds in this process (its ReadingsIngest with its stores, no NATS):
 *   BENCH_DB_ROUND_READINGS (10,000) readings from 20 monitors in rounds of 5,000.
 * BENCH_DB_ROUNDS (3) rounds of each; BENCH_DB_ONLY=<name prefixes, comma-separated> runs some.
 * BENCH_DB_PG_ASYNC=1 adds PostgreSQL with synchronous_commit=off, BENCH_DB_SQLITE_FULL=1 SQLite
 * with synchronous=FULL (an fsync per commit, as PostgreSQL's commits have): what durability
 * costs on each (references, not candidates; docs/decisions/database-backend.md).
 *
 * Then, where the time of each write goes: insertMany alone (2 in flight) and 20 `$inc` writers
 * alone, each for BENCH_DB_PROFILE_SECONDS (10) per backend: CPU per process (FerretDB, PostgreSQL's backends, this process),
 * FerretDB's own CPU profile from its pprof endpoint (--debug-addr) summarised with
 * `go tool pprof -top` (profiles kept in the printed directory), and on PostgreSQL the statements
 * that took the time (pg_stat_statements). BENCH_DB_PROFILE=0 skips it.
 *
 * Last, `bench:telemetry`'s ingest section (BENCH_ONLY=ingest, its read-your-writes phase cut
 * short) once per backend per BENCH_DB_TELEMETRY_ROUNDS (1; 0 skips it), alternating: ingest rate,
 * its ratio to raw insertMany and p99 publish→queryable at 5,000 readings/s, from its own output.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pipeline } from "node:stream/promises";
import { MEASUREMENTS } from "@trellis/contracts";
import { binaryPath, type DbBackend, type Dependency, freePort, startFerretBinaries } from "@trellis/stack";
import { GridFSBucket, MongoClient } from "mongodb";
import { readingGenerator } from "../scripts/devices/readings.ts";
import { ReadingsIngest, type ReadingsIngestOptions } from "../services/telemetry/src/ingest/readings-consumer.ts";
import { MonitorsStore } from "../services/telemetry/src/store/monitors.ts";
import { openReadingsStore } from "../services/telemetry/src/store/open-readings.ts";
import { RollupsStore } from "../services/telemetry/src/store/rollups.ts";
import {
  type CpuPhase,
  fakeReadingMsgs,
  fmt,
  measureCpu,
  monitorDoc,
  printCpuTable,
  storedReadings,
} from "./support.ts";

const int = (name: string, fallback: number, min = 1) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}`);
  return v;
};
const ROUNDS = int("BENCH_DB_ROUNDS", 3);
const DOCS = int("BENCH_DB_DOCS", 20_000);
const BATCH = 500;
const IN_FLIGHT = int("BENCH_DB_IN_FLIGHT", 4);
const WRITERS = 20;
const INCS = int("BENCH_DB_INCS", 150);
const FINDS = int("BENCH_DB_FINDS", 3_000);
const FIND_DOCS = int("BENCH_DB_FIND_DOCS", 10_000);
const GRIDFS_MIB = int("BENCH_DB_GRIDFS_MIB", 32);
const PROFILE_SECONDS = int("BENCH_DB_PROFILE_SECONDS", 10, 0);
const PROFILE = process.env.BENCH_DB_PROFILE !== "0" && PROFILE_SECONDS > 0;
const TELEMETRY_ROUNDS = int("BENCH_DB_TELEMETRY_ROUNDS", 1, 0);
const PG_ASYNC = process.env.BENCH_DB_PG_ASYNC === "1";
const SQLITE_FULL = process.env.BENCH_DB_SQLITE_FULL === "1";
/** Only the workloads whose names start with one of these (comma-separated), e.g. "telemetry,$inc". */
const ONLY = (process.env.BENCH_DB_ONLY ?? "").split(",").filter(Boolean);
const ROUND_READINGS = int("BENCH_DB_ROUND_READINGS", 10_000);

const log = (line: string) => process.stderr.write(`bench:db: ${line}\n`);
const out = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface Server {
  label: string;
  backend: DbBackend;
  mongo: Dependency;
  postgres?: Dependency;
  client: MongoClient;
  debugAddr: string;
  dataDir: string;
  /** pid → name for the CPU table. */
  names: Map<number, string>;
}

async function startServer(
  label: string,
  backend: DbBackend,
  postgresSettings: Record<string, string> = {},
  sqliteSynchronous?: "full",
) {
  const dataDir = mkdtempSync(join(tmpdir(), `trellis-bench-db-${backend}-`));
  const debugAddr = `127.0.0.1:${await freePort()}`;
  const { mongo, postgres } = await startFerretBinaries({
    dataDir,
    backend,
    debugAddr,
    // pg_stat_statements: which statements the time went to (the profile section reads it).
    postgresSettings: { shared_preload_libraries: "pg_stat_statements", ...postgresSettings },
    ...(sqliteSynchronous ? { sqliteSynchronous } : {}),
  });
  const client = await MongoClient.connect(mongo.url, { maxPoolSize: 64 });
  const names = new Map<number, string>();
  if (mongo.process?.pid) names.set(mongo.process.pid, `ferretdb (${label})`);
  log(`${label}: ${mongo.description}${postgres ? `; ${postgres.description}` : ""}`);
  return { label, backend, mongo, ...(postgres ? { postgres } : {}), client, debugAddr, dataDir, names } as Server;
}

async function stopServer(s: Server): Promise<void> {
  await s.client.close();
  await s.mongo.stop();
  await s.postgres?.stop();
  rmSync(s.dataDir, { recursive: true, force: true });
}

/** Reading-shaped documents, as telemetry's readings collection holds them. */
function readingDocs(count: number, tag: string) {
  const monitors = Array.from({ length: 20 }, (_, i) => `m${i}-${tag}`);
  const gens = monitors.map((id) => readingGenerator(id));
  const base = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const m = i % monitors.length;
    const { timestamp, ...values } = gens[m]?.next(base + i) ?? { timestamp: 0 };
    return { _id: `${monitors[m]}:${i + 1}`, monitorId: monitors[m] as string, at: timestamp, values };
  });
}

interface Workload {
  name: string;
  unit: string;
  /** One measurement on one server: the rate. */
  run(s: Server, round: number): Promise<number>;
}

const inParallel = (n: number, worker: (i: number) => Promise<void>) =>
  Promise.all(Array.from({ length: n }, (_, i) => worker(i)));

const docsForInsert = readingDocs(DOCS, "ins");
const gridfsData = randomBytes(GRIDFS_MIB * 1024 * 1024);

const workloads: Workload[] = [
  {
    name: `telemetry rounds in-process, ${fmt(ROUND_READINGS)}`,
    unit: "readings/s",
    run: (s, round) => telemetryRounds(s, round),
  },
  {
    name: `insertMany, ${BATCH}/batch, ${IN_FLIGHT} in flight`,
    unit: "docs/s",
    async run(s, round) {
      const coll = s.client.db(`bench_db_insert_${round}`).collection("readings");
      await coll.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
      let next = 0;
      const t0 = performance.now();
      await inParallel(IN_FLIGHT, async () => {
        for (let i = next; i < docsForInsert.length; i = next) {
          next += BATCH;
          await coll.insertMany(docsForInsert.slice(i, i + BATCH) as never[], { ordered: false });
        }
      });
      const rate = DOCS / ((performance.now() - t0) / 1000);
      if ((await coll.estimatedDocumentCount()) !== DOCS) throw new Error("insertMany: not every document stored");
      await coll.db.dropDatabase();
      return rate;
    },
  },
  {
    name: `$inc by _id, ${WRITERS} writers`,
    unit: "updates/s",
    async run(s, round) {
      const coll = s.client.db(`bench_db_inc_${round}`).collection<{ _id: string; n: number }>("monitors");
      await coll.insertMany(Array.from({ length: WRITERS }, (_, w) => ({ _id: `m${w}`, n: 0 })));
      const t0 = performance.now();
      await inParallel(WRITERS, async (w) => {
        for (let i = 0; i < INCS; i++) await coll.updateOne({ _id: `m${w}` }, { $inc: { n: 1 } });
      });
      const rate = (WRITERS * INCS) / ((performance.now() - t0) / 1000);
      const total = (await coll.find().toArray()).reduce((a, d) => a + d.n, 0);
      if (total !== WRITERS * INCS) throw new Error(`$inc: ${total} counted of ${WRITERS * INCS}`);
      await coll.db.dropDatabase();
      return rate;
    },
  },
  {
    name: `findOne by _id, ${WRITERS} readers, of ${fmt(FIND_DOCS)}`,
    unit: "finds/s",
    async run(s) {
      // Seeded once per server (reads do not change it).
      const coll = s.client.db("bench_db_find").collection("readings");
      if ((await coll.estimatedDocumentCount()) !== FIND_DOCS) {
        const docs = readingDocs(FIND_DOCS, "find");
        for (let i = 0; i < docs.length; i += BATCH) await coll.insertMany(docs.slice(i, i + BATCH) as never[]);
      }
      const ids = (await coll.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id as unknown as string);
      let left = FINDS;
      let missing = 0;
      const t0 = performance.now();
      await inParallel(WRITERS, async () => {
        while (left-- > 0) {
          const _id = ids[Math.floor(Math.random() * ids.length)];
          if (!(await coll.findOne({ _id: _id as never }))) missing++;
        }
      });
      if (missing) throw new Error(`findOne: ${missing} ids not found`);
      return FINDS / ((performance.now() - t0) / 1000);
    },
  },
  {
    name: `GridFS upload, ${GRIDFS_MIB} MiB`,
    unit: "MiB/s",
    async run(s, round) {
      const bucket = new GridFSBucket(s.client.db(`bench_db_gridfs_${round}`), { bucketName: "media" });
      const t0 = performance.now();
      const upload = bucket.openUploadStream("bench.bin");
      await new Promise<void>((resolve, reject) => {
        upload.once("finish", () => resolve());
        upload.once("error", reject);
        upload.end(gridfsData);
      });
      return GRIDFS_MIB / ((performance.now() - t0) / 1000);
    },
  },
  {
    name: `GridFS download, ${GRIDFS_MIB} MiB`,
    unit: "MiB/s",
    async run(s, round) {
      const db = s.client.db(`bench_db_gridfs_${round}`);
      const bucket = new GridFSBucket(db, { bucketName: "media" });
      const file = await db.collection("media.files").findOne({ filename: "bench.bin" });
      if (!file) throw new Error("GridFS: the uploaded file is missing");
      let bytes = 0;
      const t0 = performance.now();
      await pipeline(bucket.openDownloadStream(file._id), async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) bytes += chunk.length;
      });
      const rate = GRIDFS_MIB / ((performance.now() - t0) / 1000);
      if (bytes !== gridfsData.length) throw new Error(`GridFS: downloaded ${bytes} of ${gridfsData.length} bytes`);
      await db.dropDatabase();
      return rate;
    },
  },
];

/**
 * Telemetry's ingest rounds as the service runs them (ReadingsIngest.process: every store call of
 * a round, the same code bench:telemetry's "batch code, no NATS" diagnostic runs), in this process
 * against each server: what the backend changes in ingest without NATS, auth callout or other
 * services in the way. Rounds of 5,000 readings from 20 monitors; stored counters checked.
 */
async function telemetryRounds(s: Server, round: number): Promise<number> {
  const db = s.client.db(`bench_db_rounds_${round}`);
  const monitors = new MonitorsStore(db);
  // The layout telemetry itself opens on this server (buckets on FerretDB).
  const readings = await openReadingsStore(db);
  const rollups = new RollupsStore(db);
  await Promise.all([monitors, readings, rollups].map((x) => x.ensureIndexes()));
  // Monitor ids as the platform makes them (32 hex digits): the ingest rejects others.
  const ids = Array.from({ length: 20 }, () => randomBytes(16).toString("hex"));
  for (const id of ids) await monitors.create(monitorDoc(id, "bench"));
  const ingest = new ReadingsIngest({
    monitors,
    readings,
    rollups,
    batchSize: 500,
    roundSize: 5_000,
    maxWaitMs: 20,
    log: {
      debug() {},
      info() {},
      warn(o: unknown) {
        throw new Error(`telemetry rounds: ${JSON.stringify(o)}`);
      },
      error() {},
    },
  } as unknown as ReadingsIngestOptions);
  const msgs = fakeReadingMsgs(ids, ROUND_READINGS, () => Date.now());
  const t0 = performance.now();
  for (let i = 0; i < msgs.length; i += 5_000) await ingest.process(msgs.slice(i, i + 5_000));
  const rate = ROUND_READINGS / ((performance.now() - t0) / 1000);
  const stored = await storedReadings(db, ids);
  if (stored !== ROUND_READINGS) throw new Error(`telemetry rounds: ${stored} stored of ${ROUND_READINGS}`);
  await db.dropDatabase();
  return rate;
}

/** The profiled write loads: insertMany alone (2 in flight, as telemetry), or 20 `$inc` writers alone, until `until`. */
const profiledLoads = {
  async insertMany(s: Server, until: number): Promise<number> {
    const readings = s.client.db("bench_db_profile").collection("readings");
    await readings.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
    let docs = 0;
    let batch = 0;
    await inParallel(2, async () => {
      while (performance.now() < until) {
        const b = readingDocs(BATCH, `p${batch++}`);
        await readings.insertMany(b as never[], { ordered: false });
        docs += b.length;
      }
    });
    return docs;
  },
  async inc(s: Server, until: number): Promise<number> {
    const counters = s.client.db("bench_db_profile").collection<{ _id: string; n: number }>("monitors");
    await counters.insertMany(Array.from({ length: WRITERS }, (_, w) => ({ _id: `m${w}`, n: 0 })));
    let incs = 0;
    await inParallel(WRITERS, async (w) => {
      while (performance.now() < until) {
        await counters.updateOne({ _id: `m${w}` }, { $inc: { n: 1 } });
        incs++;
      }
    });
    return incs;
  },
};

function psql(s: Server, sql: string): string {
  const url = s.postgres?.url;
  if (!url) return "";
  return execFileSync("psql", [url, "-X", "-A", "-F", " | ", "-c", sql], { encoding: "utf8" });
}

/** One profiled load on one server: its rate, FerretDB's CPU profile, PostgreSQL's statements. */
async function profile(s: Server, load: keyof typeof profiledLoads, dir: string, cpu: CpuPhase[]): Promise<void> {
  const file = join(dir, `ferretdb-${s.label.replace(/[^a-z0-9]+/gi, "-")}-${load}.pb.gz`);
  if (s.postgres) psql(s, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();");
  const until = performance.now() + PROFILE_SECONDS * 1000;
  const fetchProfile = fetch(`http://${s.debugAddr}/debug/pprof/profile?seconds=${Math.max(1, PROFILE_SECONDS - 1)}`)
    .then(async (r) => writeFileSync(file, Buffer.from(await r.arrayBuffer())))
    .catch((err: unknown) => log(`pprof (${s.label}): ${(err as Error).message}`));
  const done = await measureCpu(cpu, `${load}, ${s.label}`, s.names, () => profiledLoads[load](s, until));
  await fetchProfile;
  await s.client.db("bench_db_profile").dropDatabase();
  out(`
${s.label}, ${load} alone for ${PROFILE_SECONDS} s: ${fmt(done / PROFILE_SECONDS)} /s`);
  try {
    // Cumulative: which layers the time is spent under (wire protocol, handler, backend, driver).
    const top = execFileSync("go", ["tool", "pprof", "-top", "-cum", "-nodecount=30", binaryPath("ferretdb"), file], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    out(`FerretDB CPU profile (${file}), cumulative:`);
    out(
      top
        .split("\n")
        .filter((l) => /Duration|flat%|FerretDB|sqlite|pgx|sjson|json\.|mallocgc|gcBgMark|Syscall6$/.test(l))
        .join("\n"),
    );
  } catch (err) {
    out(`(go tool pprof failed: ${(err as Error).message.split("\n")[0]}; the profile is ${file})`);
  }
  if (s.postgres) {
    // A commit's WAL flush happens after its statement has finished: not counted here.
    out("PostgreSQL statements by total time (pg_stat_statements; without the WAL flush at commit):");
    out(
      psql(
        s,
        "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, " +
          "rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) AS query FROM pg_stat_statements " +
          "WHERE query NOT LIKE 'CREATE%' ORDER BY total_exec_time DESC LIMIT 6",
      ),
    );
  }
}

/** bench:telemetry's ingest section on one backend; the lines that matter from its output. */
function telemetryRun(backend: DbBackend): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, "telemetry.ts")], {
      env: {
        ...process.env,
        TRELLIS_DB_BACKEND: backend,
        BENCH_ONLY: "ingest",
        // Phase 5 (read-your-writes over HTTP) is not what this compares: kept short.
        BENCH_RYW_REQUESTS: process.env.BENCH_RYW_REQUESTS ?? "50",
        BENCH_RYW_CLIENTS: process.env.BENCH_RYW_CLIENTS ?? "10",
        BENCH_RYW_PER_CLIENT: process.env.BENCH_RYW_PER_CLIENT ?? "10",
        BENCH_PIPELINE_SECONDS: process.env.BENCH_PIPELINE_SECONDS ?? "5",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let text = "";
    child.stdout.on("data", (c: Buffer) => {
      text += c.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      const lines = text.split("\n");
      const line = (prefix: RegExp) => lines.find((l) => prefix.test(l)) ?? "";
      const insertManyAt = lines.findIndex((l) => /^raw insertMany/.test(l));
      const value = (l: string) => l.slice(34, 49).trim();
      const result = {
        ingest: value(line(/^ingest, /)),
        stored: value(line(/^ {2}stored = published/)),
        insertMany: value(line(/^raw insertMany/)),
        // Backend-independent, so it shows how busy the machine was during that run.
        jetstream: value(line(/^raw JetStream publish\+ack/)),
        // The ratio row right under raw insertMany (its goal has changed over time).
        ratio: value(insertManyAt >= 0 ? (lines[insertManyAt + 1] ?? "") : ""),
        p99: value(line(/^latency @ /)),
        latencyNote: line(/^latency @ /).slice(52),
        exit: String(code),
      };
      resolve(result);
    });
  });
}

/** The first number in a cell such as "6,495 /s" or "p99 834.0 ms" (after the p99 label). */
const num = (v: string) =>
  Number(/([\d,]+(?:\.\d+)?)(?!\d)\s*(?:ms|\/s|$)/.exec(v)?.[1]?.replace(/,/g, "") ?? Number.NaN);

// ---------------------------------------------------------------------------------------------

const servers: Server[] = [];
let exitCode = 0;
try {
  servers.push(await startServer("sqlite", "sqlite"));
  servers.push(await startServer("postgresql", "postgresql"));
  if (PG_ASYNC) servers.push(await startServer("pg, sync_commit off", "postgresql", { synchronous_commit: "off" }));
  if (SQLITE_FULL) servers.push(await startServer("sqlite, sync full", "sqlite", {}, "full"));
  const names = new Map(servers.flatMap((s) => [...s.names]));
  for (const s of servers) s.names = names;

  // Warm-up: connections, the JIT, each server's first files.
  for (const s of servers) {
    for (const w of workloads.slice(0, 2)) await w.run(s, 0);
  }

  const chosen = ONLY.length ? workloads.filter((w) => ONLY.some((o) => w.name.startsWith(o))) : workloads;
  const results = new Map<string, number[][]>(); // workload → per server → rates
  for (const w of chosen)
    results.set(
      w.name,
      servers.map(() => []),
    );
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate who goes first, so neither always meets the machine in the same state.
    const order = round % 2 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i);
    for (const w of chosen) {
      for (const i of order) {
        const rate = await w.run(servers[i] as Server, round);
        results.get(w.name)?.[i]?.push(rate);
      }
    }
    log(`round ${round} of ${ROUNDS} done`);
  }

  const col = 22;
  // Ratio columns as wide as their headings ("pg, sync_commit off ÷ sqlite").
  const rcol = Math.max(col, ...servers.slice(1).map((s) => s.label.length + 12));
  out(`\nFerretDB by backend, median of ${ROUNDS} rounds (interleaved; every round in brackets)`);
  out(
    `${"".padEnd(52)}${servers.map((s) => s.label.padStart(col)).join("")}${servers
      .slice(1)
      .map((s) => `${s.label} ÷ sqlite`.padStart(rcol))
      .join("")}`,
  );
  for (const w of chosen) {
    const per = results.get(w.name) ?? [];
    const medians = per.map(median);
    const base = medians[0] as number;
    out(
      `${`${w.name} (${w.unit})`.padEnd(52)}${medians.map((m) => fmt(m).padStart(col)).join("")}${medians
        .slice(1)
        .map((m) => (m / base).toFixed(2).padStart(rcol))
        .join("")}`,
    );
    out(`${"".padEnd(52)}${per.map((rs) => `  [${rs.map(fmt).join(", ")}]`.padStart(col)).join("")}`);
  }
  out(`(${MEASUREMENTS.length} measurements per reading document; GridFS chunks of 255 KiB)`);

  if (PROFILE) {
    const dir = join(process.cwd(), ".data", "bench-db");
    mkdirSync(dir, { recursive: true });
    const cpu: CpuPhase[] = [];
    for (const load of ["insertMany", "inc"] as const) {
      for (const s of servers.slice(0, 2)) await profile(s, load, dir, cpu);
    }
    printCpuTable(cpu);
  }
} catch (err) {
  exitCode = 1;
  log(`${(err as Error).stack ?? err}`);
} finally {
  await Promise.allSettled(servers.map(stopServer));
}

if (exitCode === 0 && TELEMETRY_ROUNDS > 0) {
  const runs: { backend: DbBackend; r: Record<string, string> }[] = [];
  for (let round = 1; round <= TELEMETRY_ROUNDS; round++) {
    const order: DbBackend[] = round % 2 ? ["sqlite", "postgresql"] : ["postgresql", "sqlite"];
    for (const backend of order) {
      log(`bench:telemetry ingest on ${backend} (round ${round} of ${TELEMETRY_ROUNDS})`);
      const r = await telemetryRun(backend);
      if (r.exit !== "0" || r.stored !== "yes") exitCode = 1;
      runs.push({ backend, r });
    }
  }
  out("\nbench:telemetry ingest section (current code), by backend");
  out(
    `${"backend".padEnd(12)}${"ingest".padStart(14)}${"raw insertMany".padStart(16)}${"ingest ÷ raw".padStart(14)}${"raw JetStream".padStart(16)}${"ingest ÷ JS".padStart(13)}${"p99 pub→query".padStart(16)}  stored = published`,
  );
  for (const { backend, r } of runs) {
    out(
      `${backend.padEnd(12)}${(r.ingest ?? "").padStart(14)}${(r.insertMany ?? "").padStart(16)}${(r.ratio ?? "").padStart(14)}${(r.jetstream ?? "").padStart(16)}${(num(r.ingest ?? "") / num(r.jetstream ?? "")).toFixed(3).padStart(13)}${(r.p99 ?? "").padStart(16)}  ${r.stored || "?"}  ${r.latencyNote ?? ""}`,
    );
  }
  const med = (backend: DbBackend, key: string) =>
    median(runs.filter((x) => x.backend === backend && x.r[key]).map((x) => num(x.r[key] ?? "")));
  const ratio = (key: string) => {
    const r = med("postgresql", key) / med("sqlite", key);
    return Number.isFinite(r) ? r.toFixed(2) : "-";
  };
  out(
    `postgresql ÷ sqlite: ingest ${ratio("ingest")}, raw insertMany ${ratio("insertMany")}, p99 publish→queryable ${ratio("p99")} (< 1: lower latency; "-": a run did not finish)`,
  );
}
process.exit(exitCode);
