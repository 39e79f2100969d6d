/**
 * `npm run bench:telemetry` — device ingest, each number against a baseline measured in the same
 * run on the same servers:
 * 1. sustained ingest: BENCH_READINGS readings (default 50,000) from BENCH_MONITORS simulated
 *    monitors (default 20), each connected to NATS as itself through auth callout, published as
 *    fast as acks allow (BENCH_IN_FLIGHT publishes in flight, default 256), timed from the first
 *    publish until the monitors' `readingsStored` counters (telemetry's database) add up to all of
 *    them; stored must equal published exactly (the counters, the readings in the buckets and the
 *    stream). At most BENCH_INGEST_SECONDS (default 60) are waited for: when that is not enough the
 *    rate so far is printed, marked incomplete, with the rate of the first and the last 10 s.
 * 2. raw JetStream publish-with-ack msg/s on the same server, same message size, connections and
 *    window, to a throwaway file stream (service credentials): goal ingest/raw >= 0.5;
 * 3. raw `insertMany` docs/s into the same MongoDB-protocol server, batches of INGEST_BATCH_SIZE
 *    (500, also set explicitly for telemetry here), documents shaped like telemetry's readings,
 *    into a throwaway database, one insert at a time and two in flight, the better of the two:
 *    the layout before buckets at its best; goal ingest/insertMany >= 1.0 (stretch 1.3);
 * 4. publish-to-queryable latency at BENCH_LATENCY_RATE readings/s (default 5,000) for
 *    BENCH_LATENCY_SECONDS (default 10) with every feature on (live and presence always are;
 *    BENCH_LATENCY_RULES alarm rules, default 1,000, over the monitors; retention and
 *    downsampling every 2 s), against a fresh telemetry (new database, new readings
 *    stream, new monitors: no backlog left from phase 1): goal p99 < 250 ms. Method (FerretDB has
 *    no change streams): every reading carries its publish time as `timestamp`; the bench keeps,
 *    per monitor, the publish times in order and polls the monitors' `readingsStored` counters
 *    every BENCH_POLL_MS (default 10 ms). When a monitor's counter goes from a to b, its readings a+1..b became
 *    stored, and each gets `seenAt - timestamp`. This relies on telemetry storing a monitor's
 *    readings in stream order (one instance, one batch at a time, no redelivery; the exact-count
 *    check would show a redelivery as a miscount), and it is the conservative end of "queryable":
 *    the counters and latest values are the last write of a round, after the reading documents.
 *    Polling adds up to one poll interval plus one query (the average query time is printed).
 *    Readings still not stored BENCH_DRAIN_SECONDS (default 30) after publishing stops count with
 *    their age at that moment (so the percentiles are then lower bounds, marked ">=").
 * 5. what read-your-writes costs: an HTTP update now answers 200 only once the reading is stored
 *    and visible. Through the gateway, on phase 4's telemetry (its backlog drained): v1
 *    `POST /api/v1/monitors/update` as the monitor (its v1 token), each followed at once by
 *    `GET /api/v1/monitors/get` (admin v1 token) that must show every value sent as the monitor's
 *    current value and in its history (a miss counts as a mismatch: must be 0); the same for v2
 *    `POST /api/v2/monitors/:id/readings` (the monitor's v1 token as bearer) checked with
 *    `GET …/readings/latest`. One client sending BENCH_RYW_REQUESTS (default 300) one after the
 *    other, then BENCH_RYW_CLIENTS (default 50) clients sending BENCH_RYW_PER_CLIENT (default 40)
 *    each, every client on a monitor of its own (a shared monitor's latest value would be another
 *    client's as often as not, so the check could not tell a stale read from a newer write).
 *    Latency is the update's alone (request sent → 200); requests/s count updates over the
 *    phase's wall time, verifying GETs included. Baseline, same run: what an update cost before,
 *    a raw JetStream publish-with-ack of the same reading (one connection, as telemetry
 *    publishes, to a throwaway stream with the readings stream's settings), sequential and
 *    BENCH_RYW_CLIENTS at once. Each run stops sending after BENCH_RYW_SECONDS (default 60).
 * Diagnostics (where the time goes): raw JetStream consume+ack msg/s; telemetry's own batch code
 * (`ReadingsIngest.process`: JSON, validation and every store call) run in this process without
 * NATS, for at most BENCH_PIPELINE_SECONDS (default 15), with the time per store call; and CPU per
 * process during each phase from /proc/<pid>/stat (utime + stime), as a sampling profiler would.
 * Defaults keep a run within about 3 minutes.
 * Before these, the sections of other files: commands, retention, durability (the cost of
 * JetStream's `sync_interval: always` against nats-server's default, two servers side by side:
 * ingest and ack p99 with each; bench/telemetry-durability.ts) and alarms; live readings after.
 * `BENCH_ONLY=<section>` runs one of them (`ingest`: the phases above).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Agent, request as httpRequest } from "node:http";
import { performance } from "node:perf_hooks";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { MEASUREMENTS, READINGS_STREAM } from "@trellis/contracts";
import { ensureStream } from "@trellis/runtime";
import { freePort } from "@trellis/stack";
import type { ServiceProcess } from "@trellis/stack/testing";
import { type Db, MongoClient } from "mongodb";
import {
  api,
  closeAll,
  connectDevices,
  createMonitors,
  createOwner,
  type DeviceCredentials,
  deviceTargets,
  login,
} from "../scripts/devices/platform.ts";
import {
  firstFailures,
  type PublishStats,
  type PublishTarget,
  publishPaced,
  Reservoir,
} from "../scripts/devices/publisher.ts";
import { type FullReading, type ReadingGenerator, readingGenerator } from "../scripts/devices/readings.ts";
import { ReadingsIngest, type ReadingsIngestOptions } from "../services/telemetry/src/ingest/readings-consumer.ts";
import { readingsStreamSpec } from "../services/telemetry/src/ingest/readings-stream.ts";
import { MonitorsStore } from "../services/telemetry/src/store/monitors.ts";
import { BucketReadingsStore } from "../services/telemetry/src/store/reading-buckets.ts";
import { type ReadingDoc, ReadingDocsStore } from "../services/telemetry/src/store/reading-docs.ts";
import type { ReadingsStore } from "../services/telemetry/src/store/readings.ts";
import { RollupsStore } from "../services/telemetry/src/store/rollups.ts";
import { type CpuPhase, fakeReadingMsgs, fmt, measureCpu, monitorDoc, printCpuTable, startBench } from "./support.ts";
import { benchAlarms, postAlarmRules } from "./telemetry-alarms.ts";
import { benchCommands } from "./telemetry-commands.ts";
import { benchDurability } from "./telemetry-durability.ts";
import { benchTelemetryLive } from "./telemetry-live.ts";
import { benchRetention } from "./telemetry-retention.ts";

const int = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const READINGS = int("BENCH_READINGS", 50_000);
const MONITORS = int("BENCH_MONITORS", 20);
const IN_FLIGHT = int("BENCH_IN_FLIGHT", 256);
const LATENCY_RATE = int("BENCH_LATENCY_RATE", 5_000);
const LATENCY_SECONDS = int("BENCH_LATENCY_SECONDS", 10);
/** Alarm rules on the latency phase's monitors (spread over them), with retention running often: every feature on. */
const LATENCY_RULES = int("BENCH_LATENCY_RULES", 1_000);
const INGEST_SECONDS = int("BENCH_INGEST_SECONDS", 60);
const DRAIN_SECONDS = int("BENCH_DRAIN_SECONDS", 30);
const PIPELINE_SECONDS = int("BENCH_PIPELINE_SECONDS", 15);
/** telemetry's INGEST_BATCH_SIZE default, set explicitly below so both sides use the same number. */
const BATCH = 500;
/** telemetry's INGEST_ROUND_SIZE default: the most readings one round takes (under load). */
const ROUND = 5_000;
const WARMUP = Math.min(500, READINGS);
const POLL_MS = int("BENCH_POLL_MS", 10);
const RYW_REQUESTS = int("BENCH_RYW_REQUESTS", 300);
const RYW_CLIENTS = int("BENCH_RYW_CLIENTS", 50);
const RYW_PER_CLIENT = int("BENCH_RYW_PER_CLIENT", 40);
/** Each read-your-writes run stops sending after this long, whatever its count. */
const RYW_SECONDS = int("BENCH_RYW_SECONDS", 60);
/** Requests per client before each read-your-writes run, not measured (JIT, sockets, token caches). */
const RYW_WARMUP = 5;
/** Poll interval of the sustained-ingest phase while readings are still being published. */
const SLOW_POLL_MS = 250;
const ADMIN = { username: "bench-admin", password: `Bench-Admin-${randomBytes(6).toString("hex")}` };

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);
/** For sub-millisecond times (a raw publish). */
const ms2 = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(2)} ms`);

// ---------------------------------------------------------------------------------------------

interface MonitorCounter {
  _id: string;
  readingsStored: number;
}

/** The monitors' stored counters in telemetry's database. */
async function storedCounters(db: Db, ids: readonly string[]): Promise<Map<string, number>> {
  const docs = await db
    .collection<MonitorCounter>("monitors")
    .find({ _id: { $in: [...ids] } }, { projection: { readingsStored: 1 } })
    .toArray();
  return new Map(docs.map((d) => [d._id, d.readingsStored ?? 0]));
}

const sum = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

interface StoredProgress {
  /** performance.now() when the counters were read, and their sum. */
  samples: { at: number; stored: number }[];
  complete: boolean;
  /** When the target was first seen (performance.now()), or the last sample when the deadline hit. */
  doneAt: number;
}

/** Polls the counters every `pollMs` until they add up to `target` or `deadline` (performance.now()) passes. */
async function waitStored(
  db: Db,
  ids: readonly string[],
  target: number,
  pollMs: number,
  deadline: number,
  /** Until this says so, poll only every SLOW_POLL_MS: each poll is work for the database too. */
  pollFast: () => boolean = () => true,
): Promise<StoredProgress> {
  const samples: { at: number; stored: number }[] = [];
  for (;;) {
    const stored = sum(await storedCounters(db, ids));
    const at = performance.now();
    samples.push({ at, stored });
    if (stored >= target) return { samples, complete: true, doneAt: at };
    if (at >= deadline) return { samples, complete: false, doneAt: at };
    await sleep(pollFast() ? pollMs : SLOW_POLL_MS);
  }
}

/** Readings stored per second between two moments of a progress record. */
function rateBetween(p: StoredProgress, from: number, to: number): number {
  const inWindow = p.samples.filter((s) => s.at >= from && s.at <= to);
  const first = inWindow[0];
  const last = inWindow.at(-1);
  if (!first || !last || last.at <= first.at) return Number.NaN;
  return (last.stored - first.stored) / ((last.at - first.at) / 1000);
}

function failIf(stats: PublishStats, what: string): void {
  if (stats.failed > 0 || stats.acked !== stats.sent) {
    throw new Error(`${what}: ${stats.failed} of ${stats.sent} publishes failed: ${firstFailures(stats).join("; ")}`);
  }
}

/** Times `fn`'s async methods (own and prototype) into `acc` under `label.method`. */
/**
 * Time spent in store calls: per method (calls of one method may overlap, e.g. two inserts in
 * flight, so these can add up to more than the wall time) and `busy`, the wall time during which
 * at least one store call was in flight.
 */
class StoreTimes {
  readonly perMethod = new Map<string, number>();
  busy = 0;
  private inFlight = 0;
  private busySince = 0;

  clear(): void {
    this.perMethod.clear();
    this.busy = 0;
  }

  wrap<T extends object>(obj: T, label: string): T {
    const target = obj as unknown as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(obj))) {
      const fn = target[key];
      if (key === "constructor" || typeof fn !== "function") continue;
      target[key] = async (...args: unknown[]) => {
        const t0 = performance.now();
        if (this.inFlight++ === 0) this.busySince = t0;
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        } finally {
          const t1 = performance.now();
          if (--this.inFlight === 0) this.busy += t1 - this.busySince;
          const k = `${label}.${key}`;
          this.perMethod.set(k, (this.perMethod.get(k) ?? 0) + t1 - t0);
        }
      };
    }
    return obj;
  }
}

/** Keep-alive HTTP/1.1, a socket per concurrent client (lighter on this shared CPU than fetch). */
const httpAgent = new Agent({ keepAlive: true, maxSockets: 256 });

/** One JSON request; resolves with the status and the parsed body (the text when not JSON). */
function httpJson(
  method: "GET" | "POST",
  url: URL,
  options: { json?: unknown; bearer?: string } = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
    const headers: Record<string, string> = {};
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    }
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    const req = httpRequest(url, { method, agent: httpAgent, headers, timeout: 30_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 30 s")));
    req.on("error", reject);
    req.end(payload);
  });
}

/** A monitor used by one read-your-writes client: its id, its v1 token, its readings. */
interface RywClient {
  id: string;
  token: string;
  readings: ReadingGenerator;
}

/** One way of submitting a reading, and of reading back whether it is visible. */
interface RywMode {
  /** Submits `reading`; true on the expected 200. */
  update(c: RywClient, reading: FullReading): Promise<{ ok: boolean; status: number }>;
  /** Reads the monitor at once: true when every measurement sent is visible. */
  visible(c: RywClient, reading: FullReading, sentAt: number): Promise<boolean>;
}

interface RywResult {
  updates: number;
  /** Stopped by RYW_SECONDS before every client sent its count. */
  cut: boolean;
  failed: number;
  /** Non-200 statuses (or transport errors) and how often. */
  failures: Map<string, number>;
  mismatches: number;
  latency: { p50: number; p99: number; max: number };
  getLatency: { p50: number; p99: number };
  /** Updates per second over the run's wall time (verifying GETs included). */
  rate: number;
}

const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** `clients.length` clients, each sending `perClient` updates one after the other, each verified at once. */
async function rywRun(mode: RywMode, clients: readonly RywClient[], perClient: number): Promise<RywResult> {
  const latency = new Reservoir();
  const getLatency = new Reservoir();
  const failures = new Map<string, number>();
  let failed = 0;
  let mismatches = 0;
  let updates = 0;
  const start = performance.now();
  const until = start + RYW_SECONDS * 1000;
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < perClient && performance.now() < until; i++) {
        updates++;
        const reading = c.readings.next(Date.now());
        const sentAt = Date.now();
        const t0 = performance.now();
        try {
          const r = await mode.update(c, reading);
          if (!r.ok) {
            failed++;
            count(failures, `HTTP ${r.status}`);
            continue;
          }
          latency.add(performance.now() - t0);
          const g0 = performance.now();
          if (!(await mode.visible(c, reading, sentAt))) mismatches++;
          getLatency.add(performance.now() - g0);
        } catch (err) {
          failed++;
          count(failures, (err as Error).message);
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const l = latency.summary();
  const g = getLatency.summary();
  return {
    updates,
    cut: updates < clients.length * perClient,
    failed,
    failures,
    mismatches,
    latency: l,
    getLatency: { p50: g.p50, p99: g.p99 },
    rate: updates / seconds,
  };
}

/** Raw JetStream publish-with-ack, `clients` at once, `perClient` each: ack latency and rate. */
async function rawPublishRun(
  js: ReturnType<typeof jetstream>,
  subject: string,
  payloads: () => Uint8Array,
  clients: number,
  perClient: number,
): Promise<{ p50: number; p99: number; rate: number }> {
  const latency = new Reservoir();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) {
        const t0 = performance.now();
        // A fresh Nats-Msg-Id each time, as telemetry's submitReading does (duplicate check included).
        await js.publish(subject, payloads(), { msgID: randomUUID() });
        latency.add(performance.now() - t0);
      }
    }),
  );
  const { p50, p99 } = latency.summary();
  return { p50, p99, rate: (clients * perClient) / ((performance.now() - start) / 1000) };
}

interface RywReport {
  v1: { warmup: RywResult; sequential: RywResult; concurrent: RywResult };
  v2: { warmup: RywResult; sequential: RywResult; concurrent: RywResult };
  rawOne: { p50: number; p99: number; rate: number };
  rawMany: { p50: number; p99: number; rate: number };
}

/** The report's rows for phase 5. */
function rywRows(r: RywReport): [string, string, string][] {
  const run = (label: string, x: RywResult): [string, string, string] => {
    const failures = [...x.failures].map(([k, n]) => `${k} ×${n}`).join(", ");
    return [
      label,
      `p50 ${ms(x.latency.p50)}`,
      `p99 ${ms(x.latency.p99)}, max ${ms(x.latency.max)}; ${fmt(x.rate)} updates/s with their GETs; ${fmt(x.updates - x.failed)} of ${fmt(x.updates)} answered 200${failures ? ` (${failures})` : ""}${x.cut ? ` (stopped after ${RYW_SECONDS} s)` : ""}; each read back at once (GET p50 ${ms(x.getLatency.p50)}): ${x.mismatches} not visible`,
    ];
  };
  const ratio = (label: string, x: RywResult, raw: { p50: number; p99: number }): [string, string, string] => [
    label,
    `${(x.latency.p50 / raw.p50).toFixed(1)}x p50`,
    `${(x.latency.p99 / raw.p99).toFixed(1)}x p99`,
  ];
  const many = `${RYW_CLIENTS} clients`;
  return [
    ["update → 200 (stored, visible):", "", `own monitor per client; ${RYW_CLIENTS} × ${RYW_PER_CLIENT} concurrently`],
    run("v1 monitors/update, 1 client", r.v1.sequential),
    run(`  ${many}`, r.v1.concurrent),
    run("v2 …/readings, 1 client", r.v2.sequential),
    run(`  ${many}`, r.v2.concurrent),
    [
      "raw publish+ack, 1 client",
      `p50 ${ms2(r.rawOne.p50)}`,
      `p99 ${ms2(r.rawOne.p99)}; ${fmt(r.rawOne.rate)} /s; the same reading: what an update waited for before`,
    ],
    [`  ${RYW_CLIENTS} at once`, `p50 ${ms2(r.rawMany.p50)}`, `p99 ${ms2(r.rawMany.p99)}; ${fmt(r.rawMany.rate)} /s`],
    ratio("  v1 / raw, 1 client", r.v1.sequential, r.rawOne),
    ratio(`  v1 / raw, ${many}`, r.v1.concurrent, r.rawMany),
    ratio("  v2 / raw, 1 client", r.v2.sequential, r.rawOne),
    ratio(`  v2 / raw, ${many}`, r.v2.concurrent, r.rawMany),
  ];
}

/** The eight measurements of a generated reading (v1 updates carry no timestamp). */
const measurementsOf = (r: FullReading) => Object.fromEntries(MEASUREMENTS.map((m) => [m, r[m]]));

// ---------------------------------------------------------------------------------------------

// Sections of issue 11, each on a stack of its own: all of them, or only BENCH_ONLY=<feature>
// (BENCH_ONLY=ingest: the ingest sections below alone).
if (!process.env.BENCH_ONLY || process.env.BENCH_ONLY === "commands") await benchCommands();
// Live readings: alone here with BENCH_ONLY=live; in a full run after the ingest sections (end of file).
if (process.env.BENCH_ONLY === "live") await benchTelemetryLive();
if (!process.env.BENCH_ONLY || process.env.BENCH_ONLY === "retention") await benchRetention();
// What JetStream's sync_interval: always costs against nats-server's default (docs/durability.md).
if (!process.env.BENCH_ONLY || process.env.BENCH_ONLY === "durability") await benchDurability();
if (!process.env.BENCH_ONLY || process.env.BENCH_ONLY === "alarms") {
  if ((await benchAlarms()) !== 0) process.exitCode = 1;
}
if (process.env.BENCH_ONLY && process.env.BENCH_ONLY !== "ingest") process.exit(process.exitCode ?? 0);
const bench = await startBench();
const cleanups: (() => Promise<unknown>)[] = [];
let exitCode = 0;
try {
  const { stack } = bench;
  const natsAuth = stack.nats.natsAuth;
  if (!natsAuth) throw new Error("the NATS server has no service credentials (auth callout is required)");
  const t0 = performance.now();

  const names = new Map<number, string>();
  const auth = await bench.start("auth", {
    TRELLIS_ADMIN_USERNAME: ADMIN.username,
    TRELLIS_ADMIN_PASSWORD: ADMIN.password,
  });
  names.set(auth.pid, "auth");
  const port = await freePort();
  const gatewayProc = await bench.start("gateway", { PORT: String(port) });
  names.set(gatewayProc.pid, "gateway");
  const gateway = `http://127.0.0.1:${port}`;

  const mongo = await MongoClient.connect(stack.mongo.url);
  cleanups.push(() => mongo.close());
  const svcConnect = () =>
    connect({
      servers: stack.nats.url,
      user: natsAuth.user,
      pass: natsAuth.password,
      name: "bench-raw",
      noAsyncTraces: true, // as the simulated devices (scripts/devices/platform.ts)
    });
  const svc = await svcConnect();
  cleanups.push(() => svc.close());
  const jsm = await jetstreamManager(svc);
  const token = await login(gateway, ADMIN.username, ADMIN.password);
  const owner = await createOwner(gateway, token);
  const cpuPhases: CpuPhase[] = [];

  /**
   * A telemetry instance on a database of its own (its readings stream recreated empty), with
   * MONITORS new monitors connected as themselves, warmed up with WARMUP readings.
   */
  let telemetry: ServiceProcess | undefined;
  let generation = 0;
  const freshTelemetry = async (features: { rules?: number } = {}) => {
    if (telemetry) {
      await telemetry.stop("SIGKILL"); // its state is thrown away: no need to finish the batch in hand
      await jsm.streams.delete(READINGS_STREAM).catch(() => {});
    }
    const dbName = `${bench.env("telemetry").MONGO_DB}_${++generation}`;
    telemetry = await bench.start("telemetry", {
      INGEST_BATCH_SIZE: String(BATCH),
      INGEST_ROUND_SIZE: String(ROUND),
      ...(process.env.INGEST_MAX_WAIT_MS ? { INGEST_MAX_WAIT_MS: process.env.INGEST_MAX_WAIT_MS } : {}),
      MONGO_DB: dbName,
      // Every feature on: retention and downsampling run every 2 s (live and presence always are).
      ...(features.rules ? { RETENTION_INTERVAL_MS: "2000" } : {}),
    });
    names.set(telemetry.pid, "telemetry");
    const devices = await createMonitors(gateway, token, owner, MONITORS);
    await postAlarmRules(gateway, token, devices, features.rules ?? 0);
    const conns = await connectDevices(stack.nats.url, devices);
    cleanups.push(() => closeAll(conns));
    const db = mongo.db(dbName);
    const ids = devices.map((d) => d.id);
    // Warm-up: JIT, connections, the consumer, the first database files.
    const warm = await publishPaced(deviceTargets(devices, conns), { count: WARMUP, inFlight: IN_FLIGHT });
    failIf(warm, "warm-up");
    const w = await waitStored(db, ids, WARMUP, 20, performance.now() + 60_000);
    if (!w.complete) throw new Error("warm-up readings were not stored within 60 s");
    log(`telemetry #${generation}: ${MONITORS} monitors connected as themselves (auth callout), warmed up`);
    return { devices, conns, ids, db, close: () => closeAll(conns) };
  };
  const first = await freshTelemetry();

  // ---- 2. Raw JetStream publish with ack: same size, connections, window; a throwaway stream.
  const suffix = randomBytes(4).toString("hex");
  const rawStream = `BENCH_RAW_${suffix}`;
  const rawPrefix = `bench.raw.${suffix}`;
  // The readings stream's own settings (file storage, duplicate window, message size), so the
  // baseline cannot drift from what devices publish to.
  await ensureStream(jsm, { ...readingsStreamSpec(7), name: rawStream, subjects: [`${rawPrefix}.>`] });
  cleanups.push(() => jsm.streams.delete(rawStream).catch(() => {}));
  const rawConns: NatsConnection[] = [];
  cleanups.push(() => closeAll(rawConns));
  for (let i = 0; i < MONITORS; i++) rawConns.push(await svcConnect());
  const rawTargets: PublishTarget[] = first.ids.map((id, i) => {
    const readings = readingGenerator(id);
    let n = 0;
    return {
      name: `raw-${i}`,
      js: jetstream(rawConns[i] as NatsConnection),
      subject: `${rawPrefix}.${id}`,
      next: () => ({ payload: JSON.stringify(readings.next(Date.now())), msgID: `raw-${id}-${++n}` }),
    };
  });
  const raw = await measureCpu(cpuPhases, "raw JetStream", names, () =>
    publishPaced(rawTargets, { count: READINGS, inFlight: IN_FLIGHT }),
  );
  failIf(raw, "raw JetStream publish");
  const rawRate = raw.acked / (raw.elapsedMs / 1000);
  await closeAll(rawConns.splice(0));
  log(`raw JetStream publish: ${fmt(rawRate)} msg/s`);

  // Diagnostic: consume and ack those messages with a pull consumer, as telemetry does.
  await jsm.consumers.add(rawStream, { durable_name: "bench", ack_policy: AckPolicy.Explicit });
  const consumeRate = await (async () => {
    const consumer = await jetstream(svc).consumers.get(rawStream, "bench");
    const messages = await consumer.consume({ max_messages: BATCH });
    const start = performance.now();
    let n = 0;
    for await (const m of messages) {
      m.ack();
      if (++n >= READINGS) break;
    }
    const rate = n / ((performance.now() - start) / 1000);
    await messages.close();
    return rate;
  })();
  await jsm.streams.delete(rawStream);

  // ---- 3. Raw insertMany, same batch size, reading-shaped documents, a throwaway database.
  const rawDb = mongo.db(`bench_raw_${suffix}`);
  cleanups.push(() => rawDb.dropDatabase().catch(() => {}));
  const rawDocs: ReadingDoc[] = (() => {
    const gens = first.ids.map((id) => readingGenerator(id));
    const base = Date.now();
    return Array.from({ length: READINGS }, (_, i) => {
      const m = i % first.ids.length;
      const { timestamp, ...values } = (gens[m] as ReadingGenerator).next(base + i);
      return {
        _id: `${first.ids[m]}:${i + 1}`,
        monitorId: first.ids[m] as string,
        at: timestamp,
        values,
      };
    });
  })();
  // Telemetry keeps two inserts in flight, so the baseline is the better of one and two at a time
  // (each into its own fresh collection).
  const rawInsert = async (inFlight: number) => {
    const coll = rawDb.collection<ReadingDoc>(`readings_${inFlight}`);
    await coll.createIndex({ monitorId: 1, at: 1 }, { name: "monitorId_at" });
    const start = performance.now();
    let next = 0;
    const worker = async () => {
      for (let i = next; i < rawDocs.length; i = next) {
        next += BATCH;
        await coll.insertMany(rawDocs.slice(i, i + BATCH), { ordered: false });
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return READINGS / ((performance.now() - start) / 1000);
  };
  const insertRates = [await measureCpu(cpuPhases, "raw insertMany", names, () => rawInsert(1)), await rawInsert(2)];
  const insertRate = Math.max(...insertRates);
  const insertInFlight = insertRates.indexOf(insertRate) + 1;
  await rawDb.dropDatabase();
  log(`raw insertMany: ${fmt(insertRate)} docs/s`);

  // Diagnostic: telemetry's own batch code in this process, no NATS, with the time per store call:
  // the A/B of the per-reading layout (before buckets) and buckets, same messages, fresh databases.
  const encoder = new TextEncoder();
  const fakeMsgs = fakeReadingMsgs(first.ids, READINGS, () => Date.now());
  const runPipeline = async (label: string, layout: (db: Db) => ReadingsStore) => {
    const pdb = mongo.db(`bench_pipeline_${label}_${suffix}`);
    cleanups.push(() => pdb.dropDatabase().catch(() => {}));
    const storeTime = new StoreTimes();
    const pMonitors = storeTime.wrap(new MonitorsStore(pdb), "monitors");
    const pReadings = storeTime.wrap(layout(pdb), "readings");
    const pRollups = storeTime.wrap(new RollupsStore(pdb), "rollups");
    await Promise.all([pMonitors, pReadings, pRollups].map((s) => s.ensureIndexes()));
    for (const id of first.ids) await pMonitors.create(monitorDoc(id, owner));
    storeTime.clear();
    const pipeline = new ReadingsIngest({
      monitors: pMonitors,
      readings: pReadings,
      rollups: pRollups,
      batchSize: BATCH,
      roundSize: ROUND,
      maxWaitMs: 20,
      log: { debug() {}, warn() {}, error() {} },
    } as unknown as ReadingsIngestOptions);
    const batchTimes: number[] = [];
    const run = await measureCpu(cpuPhases, `batch code, no NATS (${label})`, names, async () => {
      const start = performance.now();
      const until = start + PIPELINE_SECONDS * 1000;
      let done = 0;
      while (done < fakeMsgs.length && performance.now() < until) {
        const b0 = performance.now();
        await pipeline.process(fakeMsgs.slice(done, done + ROUND));
        batchTimes.push(performance.now() - b0);
        done = Math.min(fakeMsgs.length, done + ROUND);
      }
      return { done, seconds: (performance.now() - start) / 1000 };
    });
    const rate = run.done / run.seconds;
    const stored = sum(await storedCounters(pdb, first.ids));
    await pdb.dropDatabase();
    log(`telemetry batch code in-process (${label}): ${fmt(rate)} readings/s (${stored} stored)`);
    return { rate, run, batchTimes, storeTime };
  };
  const perReading = await runPipeline("per-reading", (db) => new ReadingDocsStore(db));
  const bucketed = await runPipeline("buckets", (db) => new BucketReadingsStore(db));
  const pipelineRate = bucketed.rate;
  const pipelineRun = bucketed.run;
  const batchTimes = bucketed.batchTimes;
  const storeTime = bucketed.storeTime;

  // ---- 1. Sustained ingest through auth-callout device connections, until stored.
  const beforeIngest = sum(await storedCounters(first.db, first.ids));
  const ingest = await measureCpu(cpuPhases, "ingest", names, async () => {
    const start = performance.now();
    let allAcked = false;
    const publishing = publishPaced(deviceTargets(first.devices, first.conns), {
      count: READINGS,
      inFlight: IN_FLIGHT,
    }).finally(() => {
      allAcked = true;
    });
    // Polls are work for the database too: every SLOW_POLL_MS while publishes are unacked, every
    // POLL_MS from the last PubAck on (the last readings land a round later). Were all stored
    // before that, the end time would be late by up to SLOW_POLL_MS: conservative, not flattering.
    const progress = await waitStored(
      first.db,
      first.ids,
      beforeIngest + READINGS,
      POLL_MS,
      start + INGEST_SECONDS * 1000,
      () => allAcked,
    );
    const pub = await publishing;
    return { pub, progress, start };
  });
  failIf(ingest.pub, "ingest publish");
  const ingestSeconds = (ingest.progress.doneAt - ingest.start) / 1000;
  const ingestStored = (ingest.progress.samples.at(-1)?.stored ?? beforeIngest) - beforeIngest;
  const ingestRate = ingestStored / ingestSeconds;
  const firstTen = rateBetween(ingest.progress, ingest.start, ingest.start + 10_000);
  const lastTen = rateBetween(ingest.progress, ingest.progress.doneAt - 10_000, ingest.progress.doneAt);
  const publishOnlyRate = ingest.pub.acked / (ingest.pub.elapsedMs / 1000);
  log(`ingest: ${fmt(ingestRate)} readings/s stored${ingest.progress.complete ? "" : " (incomplete)"}`);
  let exactNote: string;
  let exact = false;
  if (ingest.progress.complete) {
    // Exact counts, after a pause in which an over-count would show.
    await sleep(1_000);
    const expectedTotal = WARMUP + READINGS;
    const counted = sum(await storedCounters(first.db, first.ids)) - beforeIngest;
    // Readings in the buckets, a reading stored twice counted twice.
    const docsTotal =
      (
        await first.db
          .collection("reading_buckets")
          .aggregate<{ n: number }>([{ $group: { _id: null, n: { $sum: "$count" } } }])
          .toArray()
      )[0]?.n ?? 0;
    const streamMsgs = (await jsm.streams.info(READINGS_STREAM)).state.messages;
    exact = counted === READINGS && docsTotal === expectedTotal && streamMsgs === expectedTotal;
    exactNote = `counters +${fmt(counted)} of ${fmt(READINGS)}; readings in buckets ${fmt(docsTotal)}, stream msgs ${fmt(streamMsgs)} (of ${fmt(expectedTotal)} with warm-up)`;
  } else {
    exactNote = `not checked: only ${fmt(ingestStored)} of ${fmt(READINGS)} stored after ${INGEST_SECONDS} s (BENCH_INGEST_SECONDS)`;
  }
  if (!exact) exitCode = 1;
  await first.close();

  // ---- 4. Latency at a fixed rate, on a fresh telemetry: publish time → counters show it stored.
  const second = await freshTelemetry({ rules: LATENCY_RULES });
  const { ids } = second;
  const counters0 = await storedCounters(second.db, ids);
  const published: number[][] = ids.map(() => []);
  const seen = ids.map((id) => counters0.get(id) ?? 0);
  const base0 = [...seen];
  const latency = new Reservoir();
  let polls = 0;
  let pollMs = 0;
  let publishingEndedAt: number | undefined;
  let unstored = 0;
  const poller = (async () => {
    for (;;) {
      const q0 = performance.now();
      const counters = await storedCounters(second.db, ids);
      const seenAt = Date.now();
      pollMs += performance.now() - q0;
      polls++;
      let pending = 0;
      ids.forEach((id, m) => {
        const stored = (counters.get(id) ?? 0) - (base0[m] as number);
        const times = published[m] as number[];
        for (let k = (seen[m] as number) - (base0[m] as number); k < stored; k++) {
          const ts = times[k];
          if (ts !== undefined) latency.add(seenAt - ts);
        }
        seen[m] = stored + (base0[m] as number);
        pending += times.length - stored;
      });
      if (publishingEndedAt !== undefined) {
        if (pending <= 0) return;
        if (performance.now() - publishingEndedAt > DRAIN_SECONDS * 1000) {
          // Censored: what is still not stored counts with its age now (a lower bound).
          ids.forEach((_, m) => {
            const times = published[m] as number[];
            for (let k = (seen[m] as number) - (base0[m] as number); k < times.length; k++) {
              latency.add(seenAt - (times[k] as number));
            }
          });
          unstored = pending;
          return;
        }
      }
      await sleep(POLL_MS);
    }
  })();
  poller.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  const paced = await measureCpu(cpuPhases, `latency @ ${fmt(LATENCY_RATE)}/s`, names, async () => {
    const stats = await publishPaced(
      deviceTargets(second.devices, second.conns, { onReading: (m, ts) => (published[m] as number[]).push(ts) }),
      { rate: LATENCY_RATE, durationMs: LATENCY_SECONDS * 1000, inFlight: IN_FLIGHT },
    );
    publishingEndedAt = performance.now();
    await poller;
    return stats;
  });
  failIf(paced, "latency publish");
  const lat = latency.summary();
  const latencyStored = ids.reduce((a, _, m) => a + (seen[m] as number) - (base0[m] as number), 0);
  if (unstored > 0) exitCode = 1;
  const ge = unstored > 0 ? ">= " : "";
  log(`latency: p50 ${ge}${ms(lat.p50)}, p99 ${ge}${ms(lat.p99)}`);

  // ---- 5. Read-your-writes over HTTP: update → 200 (stored and visible) → a GET shows it.
  // On phase 4's telemetry, which has stored (or given up on) everything published to it.
  const ryw = await (async () => {
    const adminToken = await login(gateway, ADMIN.username, ADMIN.password); // phase 4 took a while
    const adminV1 = await api(gateway, "POST", "/api/v1/login/user", {
      json: { username: ADMIN.username, password: ADMIN.password },
    });
    if (adminV1.status !== 200) throw new Error(`v1 admin login: HTTP ${adminV1.status}`);
    const adminV1Token = (adminV1.body as { data: { token: string } }).data.token;
    const monitors: DeviceCredentials[] = await createMonitors(gateway, adminToken, owner, RYW_CLIENTS);
    const clients: RywClient[] = [];
    for (const m of monitors) {
      const res = await api(gateway, "POST", "/api/v1/login/monitor", {
        json: { monitor_id: m.id, password: m.password },
      });
      if (res.status !== 200) throw new Error(`v1 monitor login: HTTP ${res.status}`);
      const token = (res.body as { data: { token: string } }).data.token;
      clients.push({ id: m.id, token, readings: readingGenerator(m.id) });
    }
    const url = (path: string) => new URL(path, gateway);
    const sameValues = (sent: FullReading, got: (m: (typeof MEASUREMENTS)[number]) => unknown) =>
      MEASUREMENTS.every((m) => got(m) === sent[m]);

    const v1: RywMode = {
      async update(c, reading) {
        const r = await httpJson("POST", url("/api/v1/monitors/update"), {
          json: { token: c.token, monitor_id: c.id, ...measurementsOf(reading) },
        });
        return { ok: r.status === 200, status: r.status };
      },
      async visible(c, reading, sentAt) {
        // History from a second before the update: small, and it must hold this reading.
        const q = new URLSearchParams({ token: adminV1Token, monitor_id: c.id, startTime: String(sentAt - 1_000) });
        const r = await httpJson("GET", url(`/api/v1/monitors/get?${q}`));
        if (r.status !== 200) return false;
        const data = (r.body as { data: Record<string, { value: unknown; history: Record<string, unknown> }> }).data;
        return (
          sameValues(reading, (m) => data[m]?.value) &&
          MEASUREMENTS.every((m) => Object.values(data[m]?.history ?? {}).includes(reading[m]))
        );
      },
    };
    const v2: RywMode = {
      async update(c, reading) {
        const r = await httpJson("POST", url(`/api/v2/monitors/${c.id}/readings`), { json: reading, bearer: c.token });
        return { ok: r.status === 200 && (r.body as { stored?: unknown }).stored === true, status: r.status };
      },
      async visible(c, reading) {
        const r = await httpJson("GET", url(`/api/v2/monitors/${c.id}/readings/latest`), { bearer: adminToken });
        if (r.status !== 200) return false;
        const values = (r.body as { values: Record<string, { value: unknown; at: unknown }> }).values;
        return sameValues(reading, (m) => values[m]?.value) && values.ph?.at === reading.timestamp;
      },
    };

    const one = clients.slice(0, 1);
    const run = async (mode: RywMode, label: string) => {
      const warmup = await rywRun(mode, clients, RYW_WARMUP);
      const sequential = await rywRun(mode, one, RYW_REQUESTS);
      const concurrent = await measureCpu(cpuPhases, `${label} ×${RYW_CLIENTS}`, names, () =>
        rywRun(mode, clients, RYW_PER_CLIENT),
      );
      log(
        `${label}: 1 client p50 ${ms(sequential.latency.p50)}, p99 ${ms(sequential.latency.p99)}; ${RYW_CLIENTS} clients p50 ${ms(concurrent.latency.p50)}, p99 ${ms(concurrent.latency.p99)}${warmup.mismatches || warmup.failed ? `; warm-up: ${warmup.mismatches} not visible, ${warmup.failed} failed` : ""}`,
      );
      return { warmup, sequential, concurrent };
    };
    const v1Result = await run(v1, "v1 update");
    const v2Result = await run(v2, "v2 readings");

    // Baseline: the previous cost of an update, a publish acked by JetStream (what submitReading
    // awaited before it waited for storage), of the same reading, from one connection.
    const rywStream = `BENCH_RYW_${suffix}`;
    const rywSubject = `bench.ryw.${suffix}.readings`;
    await ensureStream(jsm, { ...readingsStreamSpec(7), name: rywStream, subjects: [`bench.ryw.${suffix}.>`] });
    cleanups.push(() => jsm.streams.delete(rywStream).catch(() => {}));
    const gen = readingGenerator(clients[0]?.id ?? "raw");
    const payload = () => encoder.encode(JSON.stringify(measurementsOf(gen.next(Date.now()))));
    const js = jetstream(svc);
    await rawPublishRun(js, rywSubject, payload, RYW_CLIENTS, RYW_WARMUP);
    const rawOne = await rawPublishRun(js, rywSubject, payload, 1, RYW_REQUESTS);
    const rawMany = await rawPublishRun(js, rywSubject, payload, RYW_CLIENTS, RYW_PER_CLIENT);
    await jsm.streams.delete(rywStream);
    log(`raw publish+ack: 1 client p50 ${ms2(rawOne.p50)}; ${RYW_CLIENTS} at once p50 ${ms2(rawMany.p50)}`);
    return { v1: v1Result, v2: v2Result, rawOne, rawMany };
  })();
  // A value not visible right after its 200 fails the run, warm-up included.
  for (const r of [ryw.v1, ryw.v2].flatMap((m) => [m.warmup, m.sequential, m.concurrent])) {
    if (r.mismatches > 0 || r.failed > 0) exitCode = 1;
  }

  // ---- Report.
  const incomplete = ingest.progress.complete ? "" : " (incomplete)";
  const rows: [string, string, string][] = [
    [
      `ingest, ${MONITORS} monitors via callout`,
      `${fmt(ingestRate)} /s`,
      `${fmt(ingestStored)} of ${fmt(READINGS)} stored in ${ingestSeconds.toFixed(1)} s from the first publish${incomplete}; first 10 s ${fmt(firstTen)} /s, last 10 s ${fmt(lastTen)} /s`,
    ],
    [
      "  publishing alone",
      `${fmt(publishOnlyRate)} /s`,
      `until the last PubAck; ack p50 ${ms(ingest.pub.latency.p50)}, p99 ${ms(ingest.pub.latency.p99)}`,
    ],
    ["  stored = published", exact ? "yes" : ingest.progress.complete ? "NO" : "unknown", exactNote],
    [
      "raw JetStream publish+ack",
      `${fmt(rawRate)} /s`,
      `${Math.round(raw.avgBytes)} B msgs, ${MONITORS} connections, ${IN_FLIGHT} in flight; ack p50 ${ms(raw.latency.p50)}, p99 ${ms(raw.latency.p99)}`,
    ],
    ["  ratio (goal >= 0.5)", (ingestRate / rawRate).toFixed(3), ""],
    [
      "raw insertMany",
      `${fmt(insertRate)} /s`,
      `${fmt(READINGS)} docs, batches of ${BATCH}, unordered, ${insertInFlight} in flight (1: ${fmt(insertRates[0] as number)}/s, 2: ${fmt(insertRates[1] as number)}/s)`,
    ],
    ["  ratio (goal >= 1.0)", (ingestRate / insertRate).toFixed(3), "stretch 1.3: possible only with buckets"],
    [
      `latency @ ${fmt(LATENCY_RATE)} readings/s`,
      `p99 ${ge}${ms(lat.p99)}`,
      `p50 ${ge}${ms(lat.p50)}, max ${ge}${ms(lat.max)}; ${fmt(paced.sent / (paced.sendingMs / 1000))} /s sent for ${LATENCY_SECONDS} s; ${fmt(latencyStored)} of ${fmt(paced.acked)} stored${unstored ? ` (${fmt(unstored)} not stored ${DRAIN_SECONDS} s after the last publish)` : ""}`,
    ],
    [
      "  p99 goal < 250 ms",
      lat.p99 < 250 && unstored === 0 ? "met" : "not met",
      `fresh telemetry, every feature on: live, presence, ${fmt(LATENCY_RULES)} alarm rules, retention every 2 s; includes polling: every ${POLL_MS} ms + query (avg ${(pollMs / Math.max(1, polls)).toFixed(1)} ms)`,
    ],
    ...rywRows(ryw),
    ["diagnostics:", "", ""],
    [
      "raw JetStream consume+ack",
      `${fmt(consumeRate)} /s`,
      `pull consumer, max_messages ${BATCH}, one ack per message`,
    ],
    [
      "telemetry batch code, no NATS",
      `${fmt(pipelineRate)} /s`,
      `ReadingsIngest.process in this process: ${fmt(pipelineRun.done)} readings in ${pipelineRun.seconds.toFixed(1)} s; round of ${fmt(ROUND)}: first ${ms(batchTimes[0] ?? Number.NaN)}, last ${ms(batchTimes.at(-1) ?? Number.NaN)}`,
    ],
    [
      "  A/B: per-reading layout",
      `${fmt(perReading.rate)} /s`,
      `the layout before buckets, same messages and code otherwise; buckets ÷ per-reading ${(bucketed.rate / perReading.rate).toFixed(2)}`,
    ],
  ];
  const pct = (msTotal: number) => `${((100 * msTotal) / 1000 / pipelineRun.seconds).toFixed(0)} %`;
  for (const [k, v] of [...storeTime.perMethod].sort((x, y) => y[1] - x[1])) {
    rows.push([`  ${k}`, pct(v), `${(v / 1000).toFixed(2)} s in calls (calls of one method may overlap)`]);
  }
  rows.push([
    "  no store call in flight",
    pct(pipelineRun.seconds * 1000 - storeTime.busy),
    "JSON parse, validation, rollup math, ack calls",
  ]);
  for (const [x, y, z] of rows) process.stdout.write(`${x.padEnd(34)} ${y.padStart(14)}   ${z}\n`);

  printCpuTable(cpuPhases);
  log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} catch (err) {
  exitCode = 1;
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await bench.stop();
}
await benchTelemetryLive().catch((err: unknown) => {
  exitCode = 1;
  process.stderr.write(`bench live: ${(err as Error).stack ?? err}\n`);
});
process.exit(exitCode);
