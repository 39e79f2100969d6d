/**
 * `npm run bench:tracing` — what tracing costs, measured in one run:
 *
 * 1. On vs off, end to end, side by side. Two identical stacks (each its own NATS, MongoDB-protocol
 *    server and Redis, with auth, the gateway and telemetry): on one tracing is off (no
 *    OTEL_EXPORTER_OTLP_ENDPOINT), on the other every trace is sampled (OTEL_TRACES_SAMPLER=
 *    always_on) and spans go as OTLP/protobuf batches to a receiver in this process that counts
 *    and discards them, as a collector would take them. Both are loaded at the same time with the
 *    same load, so whatever else this shared machine runs meanwhile weighs on both alike (runs
 *    one after the other differed by more than the effect: 2.7× between two runs of one mode).
 *    Per round (BENCH_TRACING_ROUNDS, default 5): two authenticated GETs for BENCH_SECONDS
 *    (default 10) at BENCH_CONNECTIONS (50) per side: `GET /api/v2/me`, answered by the gateway
 *    from the token (one span: the HTTP request's), and `GET /api/v2/monitors/:id`, a NATS
 *    request to telemetry and a MongoDB query (four spans: HTTP, the NATS call's client and
 *    server, the query); then ingest: BENCH_READINGS readings (default 10,000) per side from 20
 *    monitors connected as themselves, published as fast as acks allow, timed until all are
 *    stored (a span per round of up to 5,000, and the round's MongoDB writes). Reported: req/s
 *    and readings/s, and CPU per request / per reading of the processes involved (from
 *    /proc/<pid>/stat), the cost being on against off (goal ≤ 15 %): the median over the rounds
 *    of each round's on/off ratio (the two sides of a round ran at the same time), with the
 *    lowest and highest. CPU per operation is the measure to read: the load generator (this
 *    process) drives both sides and may limit both. After a warm-up of 5 s of each GET and 2,000
 *    readings per side (a shorter one left the first round's "on" side 60 % behind: JIT).
 * 2. Off against no tracing code at all. Off, the code a request passes through differs from
 *    code without tracing by the helpers' checks (a module variable read, one closure), which
 *    no end-to-end A/B could resolve: they are timed in-process (best of 5 runs of
 *    BENCH_TRACING_ITERATIONS) as a request that makes one NATS call passes them, in ns per
 *    request, against the CPU one GET /me costs with tracing off (from 1; the cheapest request,
 *    so the largest share) (goal ≤ 1 %). Off, no SDK module is loaded, no library is patched
 *    (the preload returns at once) and the gateway mounts no tracing middleware, so nothing else
 *    differs.
 * 3. On, in-process: the spans one GET /me and one GET /monitors/:id make (the HTTP span as the
 *    gateway's middleware makes it, the NATS call's client and server spans through real headers,
 *    a MongoDB-like span, the log mixin), with the real SDK, batch processor and exporter to the
 *    receiver, CPU per request (best of 5), against the CPU each request costs with tracing off
 *    (from 1): a steadier estimate than 1 on a machine whose load changes by the second, and
 *    without what end-to-end adds (the instrumentations' patches, the context manager).
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  activeTraceIds,
  annotateActiveSpan,
  contextFromHeaders,
  injectTrace,
  inSpan,
  natsAttributes,
  type OpenSpan,
  openHttpServerSpan,
  openSpan,
  SpanKind,
  tracingEnabled,
  withOpenSpan,
} from "@trellis/runtime";
import { freePort } from "@trellis/stack";
import { startOtlpReceiver } from "@trellis/stack/testing";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { tracingConfigSchema } from "../packages/runtime/src/config.ts";
import { startTracing } from "../packages/runtime/src/tracing-sdk.ts";
import {
  closeAll,
  connectDevices,
  createMonitors,
  createOwner,
  deviceTargets,
  login,
} from "../scripts/devices/platform.ts";
import { firstFailures, publishPaced } from "../scripts/devices/publisher.ts";
import {
  type Bench,
  CONNECTIONS,
  type CpuPhase,
  DURATION_S,
  fmt,
  load,
  measureCpu,
  startBench,
  storedReadings,
} from "./support.ts";

const int = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const ROUNDS = int("BENCH_TRACING_ROUNDS", 5);
const READINGS = int("BENCH_READINGS", 10_000);
const ITERATIONS = int("BENCH_TRACING_ITERATIONS", 2_000_000);
const MONITORS = 20;
const ADMIN = { username: "bench-admin", password: "Bench-Admin-Password-4471" };
const USER = { username: "bench-user", password: "Bench-Password-8237" };

const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Mode = "off" | "on";
const MODES: readonly Mode[] = ["off", "on"];

/** One side: a stack of its own with auth, the gateway and telemetry, accounts and connected monitors. */
interface Side {
  mode: Mode;
  bench: Bench;
  gateway: string;
  bearer: string;
  adminToken: string;
  monitorId: string;
  /** Publishes `count` readings and resolves with readings/s from the first publish until all are stored. */
  ingest(count: number): Promise<number>;
  close(): Promise<void>;
}

async function startSide(mode: Mode, names: Map<number, string>, endpoint: string): Promise<Side> {
  const bench = await startBench();
  const tracing: Record<string, string> =
    mode === "on"
      ? {
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
          OTEL_TRACES_SAMPLER: "always_on",
        }
      : {};
  const port = await freePort();
  const gateway = `http://127.0.0.1:${port}`;
  const auth = await bench.start("auth", {
    ...tracing,
    TRELLIS_ADMIN_USERNAME: ADMIN.username,
    TRELLIS_ADMIN_PASSWORD: ADMIN.password,
  });
  const gw = await bench.start("gateway", { ...tracing, PORT: String(port) });
  const telemetry = await bench.start("telemetry", {
    ...tracing,
    INGEST_BATCH_SIZE: "500",
    INGEST_ROUND_SIZE: "5000",
  });
  names.set(auth.pid, `${mode} auth`);
  names.set(gw.pid, `${mode} gateway`);
  names.set(telemetry.pid, `${mode} telemetry`);
  const natsPid = bench.stack.nats.process?.pid;
  if (natsPid) names.set(natsPid, `${mode} nats-server`);
  // Ready for these routes once nothing they need is down (media and analysis do not run here;
  // bearer tokens work once the revocation list is synced from auth).
  const needed = ["nats", "auth", "telemetry", "revocations"];
  for (let i = 0; ; i++) {
    const res = await fetch(`${gateway}/readyz`).catch(() => undefined);
    const body = (await res?.json().catch(() => undefined)) as { down?: string[] } | undefined;
    if (body?.down && !body.down.some((d) => needed.includes(d))) break;
    if (i > 600) throw new Error(`${mode}: the gateway did not become ready`);
    await sleep(100);
  }
  const reg = await fetch(`${gateway}/api/v2/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(USER),
  });
  if (reg.status !== 201) throw new Error(`${mode}: register failed: ${reg.status} ${await reg.text()}`);
  const bearer = await login(gateway, USER.username, USER.password);
  const adminToken = await login(gateway, ADMIN.username, ADMIN.password);
  const owner = await createOwner(gateway, adminToken);
  const devices = await createMonitors(gateway, adminToken, owner, MONITORS);
  const conns = await connectDevices(bench.stack.nats.url, devices);
  const ids = devices.map((d) => d.id);
  const mongo = await MongoClient.connect(bench.stack.mongo.url);
  const db = mongo.db(bench.env("telemetry").MONGO_DB);
  const storedSoFar = () => storedReadings(db, ids);
  let published = 0;
  return {
    mode,
    bench,
    gateway,
    bearer,
    adminToken,
    monitorId: ids[0] as string,
    async ingest(count) {
      const stats = await publishPaced(deviceTargets(devices, conns), { count, inFlight: 256 });
      if (stats.failed > 0 || stats.acked !== stats.sent) throw new Error(firstFailures(stats).join("; "));
      published += count;
      const started = performance.now() - stats.elapsedMs;
      const deadline = performance.now() + 180_000;
      while ((await storedSoFar()) < published) {
        if (performance.now() > deadline) throw new Error(`${mode}: readings not stored within 180 s`);
        await sleep(20);
      }
      return count / ((performance.now() - started) / 1_000);
    },
    async close() {
      await closeAll(conns);
      await mongo.close();
      await bench.stop();
    },
  };
}

interface Measured {
  rate: number;
  /** CPU µs per operation. */
  cpuUs: number;
}
type Round = Record<"me" | "monitor" | "ingest", Record<Mode, Measured>>;

const cpuOf = (phase: CpuPhase | undefined, mode: Mode, processes: readonly string[]) =>
  processes.reduce((sum, p) => sum + (phase?.cpu.get(`${mode} ${p}`) ?? 0), 0);

const receiver = await startOtlpReceiver();
const names = new Map<number, string>();
const sides: Side[] = [];
try {
  for (const mode of MODES) sides.push(await startSide(mode, names, receiver.endpoint));
  say(
    `${ROUNDS} rounds, off and on side by side: ${DURATION_S} s of each GET at ${CONNECTIONS} connections per side, ` +
      `${fmt(READINGS)} readings per side; Node ${process.version}`,
  );

  const meOf = (s: Side) => ({ url: `${s.gateway}/api/v2/me`, headers: { authorization: `Bearer ${s.bearer}` } });
  const monitorOf = (s: Side) => ({
    url: `${s.gateway}/api/v2/monitors/${s.monitorId}`,
    headers: { authorization: `Bearer ${s.adminToken}` },
  });
  // Warm-up: JIT, connections, the consumers, the first database files.
  await Promise.all(sides.map((s) => load({ ...meOf(s), duration: 5 })));
  await Promise.all(sides.map((s) => load({ ...monitorOf(s), duration: 5 })));
  await Promise.all(sides.map((s) => s.ingest(2_000)));

  const phases: CpuPhase[] = [];
  /** Runs both sides' loads at once, one CPU window for both. */
  const both = async (
    phase: string,
    run: (s: Side) => Promise<{ rate: number; ops: number }>,
    processes: readonly string[],
  ): Promise<Record<Mode, Measured>> => {
    const results = await measureCpu(phases, phase, names, () => Promise.all(sides.map(run)));
    const out = {} as Record<Mode, Measured>;
    for (const [i, mode] of MODES.entries()) {
      const r = results[i] as { rate: number; ops: number };
      out[mode] = { rate: r.rate, cpuUs: (cpuOf(phases.at(-1), mode, processes) / r.ops) * 1e6 };
    }
    return out;
  };
  const httpLoad = (opts: (s: Side) => { url: string; headers: Record<string, string> }) => async (s: Side) => {
    const r = await load(opts(s));
    if (r.non2xx || r.errors) throw new Error(`${s.mode} ${opts(s).url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { rate: r.rps, ops: r.rps * DURATION_S };
  };

  const rounds: Round[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const me = await both("me", httpLoad(meOf), ["gateway"]);
    const monitor = await both("monitor", httpLoad(monitorOf), ["gateway", "telemetry", "nats-server"]);
    const ingest = await both("ingest", async (s) => ({ rate: await s.ingest(READINGS), ops: READINGS }), [
      "telemetry",
      "nats-server",
    ]);
    rounds.push({ me, monitor, ingest });
    const line = (k: keyof Round, unit: string) =>
      `${k} off ${fmt(rounds.at(-1)?.[k].off.rate ?? 0)} ${unit} ${(rounds.at(-1)?.[k].off.cpuUs ?? 0).toFixed(1)} µs, ` +
      `on ${fmt(rounds.at(-1)?.[k].on.rate ?? 0)} ${unit} ${(rounds.at(-1)?.[k].on.cpuUs ?? 0).toFixed(1)} µs`;
    say(`round ${i}: ${line("me", "req/s")}; ${line("monitor", "req/s")}; ${line("ingest", "readings/s")}`);
  }

  // ---- 2. The off path's checks, in-process, as a request with one NATS call passes them: the
  // gateway's request id annotation, `request`'s client-span check, closure and header injection,
  // `serve`'s check.
  if (tracingEnabled()) throw new Error("tracing must be off in the benchmark process");
  const h = natsHeaders();
  let sink = 0;
  const work = (i: number) => {
    sink += i & 1;
    return sink;
  };
  const nsPer = (body: (i: number) => void) => {
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 6; run++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < ITERATIONS; i++) body(i);
      const ns = Number(process.hrtime.bigint() - t0) / ITERATIONS;
      if (run > 0) best = Math.min(best, ns);
    }
    return best;
  };
  const baseline = nsPer((i) => {
    work(i);
    work(i);
  });
  const offPath = nsPer((i) => {
    annotateActiveSpan({ "trellis.request_id": "x" });
    const span: OpenSpan | undefined = tracingEnabled() ? openSpan("x", { kind: SpanKind.CLIENT }) : undefined;
    withOpenSpan(span, () => {
      injectTrace(h);
      return work(i);
    });
    span?.end();
    if (tracingEnabled()) sink += 1;
    else work(i);
  });
  // consume's per-message wrapper, for completeness (ingest does not use it: one check per round).
  const consumeBase = nsPer((i) => work(i));
  const consumeOff = nsPer((i) => void inSpan("x", { kind: SpanKind.CONSUMER }, async () => work(i)));

  // ---- 3. Tracing on, in-process: the spans one request makes, with the real SDK, batch processor
  // and OTLP/protobuf exporter (to the receiver, whose HTTP handling in this process is counted
  // too), CPU per request over batches of 128 requests, each sent before the next (the batch
  // processor's queue would otherwise overflow in a tight loop, and dropped spans cost nothing).
  const start = (sampler: "always_on" | "always_off") =>
    startTracing({
      service: "bench",
      instance: "bench-1",
      version: "0",
      config: tracingConfigSchema.parse({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_TRACES_SAMPLER: sampler,
      }),
      log: pino({ level: "warn" }, pino.destination(2)),
    });
  let tracing = start("always_on");
  const incoming = { host: "127.0.0.1:8080", authorization: "Bearer x", "user-agent": "autocannon", accept: "*/*" };
  /** The gateway's HTTP span as its middleware makes it, the request id, the access log's mixin. */
  const httpSpan = (inner: () => void) => {
    const open = openHttpServerSpan("GET", "/api/v2/monitors/x", incoming);
    withOpenSpan(open, () => {
      annotateActiveSpan({ "trellis.request_id": "65711bb2-54e4-4dd5-a0a2-9a45097a7da1" });
      activeTraceIds();
      inner();
    });
    open?.span.updateName("GET /api/v2/monitors/:id");
    open?.span.setAttribute("http.route", "/api/v2/monitors/:id");
    open?.span.setAttribute("http.response.status_code", 200);
    open?.end();
  };
  /** GET /monitors/:id adds the NATS call's client span (context into the headers), the service's server span (extracted) and the query's span. */
  const natsCall = () => {
    const hs = natsHeaders();
    const client = openSpan("telemetry.v1.monitors.get", {
      kind: SpanKind.CLIENT,
      requireParent: true,
      attributes: natsAttributes("telemetry.v1.monitors.get", "send", "r"),
    });
    withOpenSpan(client, () => injectTrace(hs));
    const server = openSpan("telemetry.v1.monitors.get", {
      kind: SpanKind.SERVER,
      parent: contextFromHeaders(hs),
      attributes: natsAttributes("telemetry.v1.monitors.get", "process", "r"),
    });
    withOpenSpan(server, () => {
      const query = openSpan("find monitors", {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "mongodb",
          "db.namespace": "trellis_telemetry",
          "db.operation.name": "find",
          "db.collection.name": "monitors",
          "server.address": "127.0.0.1",
          "server.port": 27017,
          "db.query.text": '{"find":"?","filter":{"_id":"?"},"limit":"?","lsid":{"id":"?"},"$db":"?"}',
        },
      });
      activeTraceIds();
      query?.end();
    });
    server?.end();
    client?.end();
  };
  const cpuNsPer = async (body: () => void) => {
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 6; run++) {
      const c0 = process.cpuUsage();
      for (let b = 0; b < 80; b++) {
        for (let i = 0; i < 128; i++) body();
        await tracing.flush();
      }
      const c = process.cpuUsage(c0);
      if (run > 0) best = Math.min(best, ((c.user + c.system) * 1_000) / (80 * 128));
    }
    return best;
  };
  const onMe = await cpuNsPer(() => httpSpan(() => work(1)));
  const onMonitor = await cpuNsPer(() => httpSpan(natsCall));
  const onNone = await cpuNsPer(() => void work(1));
  await tracing.shutdown();
  // The same requests when the sampler says no (what a ratio sampler does to the others): the
  // spans do not record, the context still travels.
  tracing = start("always_off");
  const unsampledMe = await cpuNsPer(() => httpSpan(() => work(1)));
  const unsampledMonitor = await cpuNsPer(() => httpSpan(natsCall));
  const unsampledNone = await cpuNsPer(() => void work(1));
  await tracing.shutdown();

  // ---- Report: medians over the rounds; the cost is the median of each round's on/off ratio.
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  };
  const of = (k: keyof Round, mode: Mode, m: keyof Measured) => median(rounds.map((r) => r[k][mode][m]));
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
  const cost = (k: keyof Round, m: keyof Measured) => {
    const ratios = rounds.map((r) => (r[k].on[m] / r[k].off[m] - 1) * 100);
    return `${pct(median(ratios))} (${pct(Math.min(...ratios))} to ${pct(Math.max(...ratios))})`;
  };
  const rows: [string, string, string, string][] = [["", "tracing off", "tracing on", "on vs off (range)"]];
  for (const [k, label, unit] of [
    ["me", "GET /api/v2/me", "req/s"],
    ["monitor", "GET /api/v2/monitors/:id", "req/s"],
    ["ingest", "ingest", "readings/s"],
  ] as const) {
    rows.push([`${label} ${unit}`, fmt(of(k, "off", "rate")), fmt(of(k, "on", "rate")), cost(k, "rate")]);
    rows.push([
      `  CPU per ${k === "ingest" ? "reading" : "request"}`,
      `${of(k, "off", "cpuUs").toFixed(1)} µs`,
      `${of(k, "on", "cpuUs").toFixed(1)} µs`,
      cost(k, "cpuUs"),
    ]);
  }
  const offNs = offPath - baseline;
  const offShare = (offNs / (of("me", "off", "cpuUs") * 1_000)) * 100;
  process.stdout.write(
    [
      `tracing on = every trace sampled, OTLP/protobuf to a local receiver; off and on side by side, medians of ${ROUNDS} rounds`,
      ...rows.map(([a, b, c, d]) => `${a.padEnd(34)}${b.padStart(14)}${c.padStart(14)}   ${d}`),
      "  (goal: on ≤ 15 % more CPU. CPU per request: GET /me the gateway; the monitor the gateway, telemetry and nats-server; per reading: telemetry and nats-server)",
      `  spans exported: ${fmt(receiver.received.requests)} OTLP requests, ${fmt(receiver.received.bytes / 1024)} KiB`,
      "",
      `tracing off vs no tracing code (in-process, best of 5 × ${fmt(ITERATIONS)}):`,
      `  the off path's checks of a request and its NATS call: ${offNs.toFixed(1)} ns (${offPath.toFixed(1)} vs ${baseline.toFixed(1)} ns)`,
      `  against ${of("me", "off", "cpuUs").toFixed(1)} µs of CPU per GET /me: ${offShare.toFixed(3)} % (goal ≤ 1 %)`,
      `  consume's per-message wrapper off: ${(consumeOff - consumeBase).toFixed(1)} ns; ingest: one check per round`,
      "",
      "tracing on, in-process (the spans of one request with the real SDK and exporter, best of 5 × 10,240):",
      `  GET /api/v2/me (1 span): ${((onMe - onNone) / 1_000).toFixed(1)} µs, ${(((onMe - onNone) / 1_000 / of("me", "off", "cpuUs")) * 100).toFixed(1)} % of its CPU off`,
      `  GET /api/v2/monitors/:id (4 spans): ${((onMonitor - onNone) / 1_000).toFixed(1)} µs, ${(((onMonitor - onNone) / 1_000 / of("monitor", "off", "cpuUs")) * 100).toFixed(1)} % of its CPU off`,
      `  not sampled (a ratio sampler's other requests): GET /me ${((unsampledMe - unsampledNone) / 1_000).toFixed(2)} µs, ` +
        `GET /monitors/:id ${((unsampledMonitor - unsampledNone) / 1_000).toFixed(2)} µs`,
      `(sink ${sink > 0 ? "used" : "unused"})`,
      "",
    ].join("\n"),
  );
} finally {
  for (const s of sides) await s.close();
  await receiver.close();
}
