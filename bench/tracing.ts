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
 *    Per round (BENCH_TRACING_ROUNDS, default 3): two authenticated GETs for BENCH_SECONDS
 *    (default 10) at BENCH_CONNECTIONS (50) per side: `GET /api/v2/me`, answered by the gateway
 *    from the token (one span: the HTTP request's), and `GET /api/v2/monitors/:id`, a NATS
 *    request to telemetry and a MongoDB query (four spans: HTTP, the NATS call's client and
 *    server, the query); then ingest: BENCH_READINGS readings (default 20,000) per side from 20
 *    monitors connected as themselves, published as fast as acks allow, timed until all are
 *    stored (a span per round of up to 5,000, and the round's MongoDB writes). Reported: req/s
 *    and readings/s, and CPU per request / per reading of the processes involved (from
 *    /proc/<pid>/stat), the cost being on against off (goal ≤ 15 %). CPU per operation is the
 *    measure to read: the load generator (this process) drives both sides and may limit both.
 * 2. Off against no tracing code at all. Off, the code a request passes through differs from
 *    code without tracing by the helpers' checks (a module variable read, one closure), which
 *    no end-to-end A/B could resolve: they are timed in-process (best of 5 runs of
 *    BENCH_TRACING_ITERATIONS) as a request that makes one NATS call passes them, in ns per
 *    request, against the CPU one GET /me costs with tracing off (from 1; the cheapest request,
 *    so the largest share) (goal ≤ 1 %). Off, no SDK module is loaded, no library is patched
 *    (the preload returns at once) and the gateway mounts no tracing middleware, so nothing else
 *    differs.
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  annotateActiveSpan,
  injectTrace,
  inSpan,
  type OpenSpan,
  openSpan,
  SpanKind,
  tracingEnabled,
  withOpenSpan,
} from "@trellis/runtime";
import { freePort } from "@trellis/stack";
import { startOtlpReceiver } from "@trellis/stack/testing";
import { MongoClient } from "mongodb";
import {
  closeAll,
  connectDevices,
  createMonitors,
  createOwner,
  deviceTargets,
  login,
} from "../scripts/devices/platform.ts";
import { firstFailures, publishPaced } from "../scripts/devices/publisher.ts";
import { type Bench, CONNECTIONS, type CpuPhase, DURATION_S, fmt, load, measureCpu, startBench } from "./support.ts";

const int = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const ROUNDS = int("BENCH_TRACING_ROUNDS", 3);
const READINGS = int("BENCH_READINGS", 20_000);
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
  const monitors = mongo
    .db(bench.env("telemetry").MONGO_DB)
    .collection<{ _id: string; readingsStored?: number }>("monitors");
  const storedSoFar = async () =>
    (await monitors.find({ _id: { $in: ids } }, { projection: { readingsStored: 1 } }).toArray()).reduce(
      (sum, d) => sum + (d.readingsStored ?? 0),
      0,
    );
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
  await Promise.all(sides.map((s) => load({ ...meOf(s), duration: 2 })));
  await Promise.all(sides.map((s) => load({ ...monitorOf(s), duration: 2 })));
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

  // ---- Report: means over the rounds.
  const mean = (k: keyof Round, mode: Mode, m: keyof Measured) =>
    rounds.reduce((sum, r) => sum + r[k][mode][m], 0) / rounds.length;
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
  const rows: [string, string, string, string][] = [["", "tracing off", "tracing on", "on vs off"]];
  for (const [k, label, unit] of [
    ["me", "GET /api/v2/me", "req/s"],
    ["monitor", "GET /api/v2/monitors/:id", "req/s"],
    ["ingest", "ingest", "readings/s"],
  ] as const) {
    rows.push([
      `${label} ${unit}`,
      fmt(mean(k, "off", "rate")),
      fmt(mean(k, "on", "rate")),
      pct((mean(k, "on", "rate") / mean(k, "off", "rate") - 1) * 100),
    ]);
    rows.push([
      `  CPU per ${k === "ingest" ? "reading" : "request"}`,
      `${mean(k, "off", "cpuUs").toFixed(1)} µs`,
      `${mean(k, "on", "cpuUs").toFixed(1)} µs`,
      pct((mean(k, "on", "cpuUs") / mean(k, "off", "cpuUs") - 1) * 100),
    ]);
  }
  const offNs = offPath - baseline;
  const offShare = (offNs / (mean("me", "off", "cpuUs") * 1_000)) * 100;
  process.stdout.write(
    [
      `tracing on = every trace sampled, OTLP/protobuf to a local receiver; off and on side by side, means of ${ROUNDS} rounds`,
      ...rows.map(([a, b, c, d]) => `${a.padEnd(34)}${b.padStart(14)}${c.padStart(14)}${d.padStart(12)}`),
      "  (goal: on ≤ 15 % more CPU. CPU per request: GET /me the gateway; the monitor the gateway, telemetry and nats-server; per reading: telemetry and nats-server)",
      `  spans exported: ${fmt(receiver.received.requests)} OTLP requests, ${fmt(receiver.received.bytes / 1024)} KiB`,
      "",
      `tracing off vs no tracing code (in-process, best of 5 × ${fmt(ITERATIONS)}):`,
      `  the off path's checks of a request and its NATS call: ${offNs.toFixed(1)} ns (${offPath.toFixed(1)} vs ${baseline.toFixed(1)} ns)`,
      `  against ${mean("me", "off", "cpuUs").toFixed(1)} µs of CPU per GET /me: ${offShare.toFixed(3)} % (goal ≤ 1 %)`,
      `  consume's per-message wrapper off: ${(consumeOff - consumeBase).toFixed(1)} ns; ingest: one check per round`,
      `(sink ${sink > 0 ? "used" : "unused"})`,
      "",
    ].join("\n"),
  );
} finally {
  for (const s of sides) await s.close();
  await receiver.close();
}
