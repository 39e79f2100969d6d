/** Shared pieces of the benchmark scripts: the stack, service processes, load runs. */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { JsMsg } from "@nats-io/jetstream";
import { deviceSubjects } from "@trellis/contracts";
import { freePort, type Stack, serviceEnv, startStack } from "@trellis/stack";
import { type ServiceProcess, startService, uniqueSuffix } from "@trellis/stack/testing";
import autocannon from "autocannon";
import type { Db } from "mongodb";
import { type ReadingGenerator, readingGenerator } from "../scripts/devices/readings.ts";
import type { MonitorDoc } from "../services/telemetry/src/store/monitors.ts";

export const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

export interface Bench {
  stack: Stack;
  env: (service: string, extra?: Record<string, string>) => Record<string, string>;
  start(service: string, extra?: Record<string, string>): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startBench(): Promise<Bench> {
  const stack = await startStack({ log: (l) => process.stderr.write(`${l}\n`) });
  const suffix = uniqueSuffix();
  const procs: ServiceProcess[] = [];
  const logDir = mkdtempSync(join(tmpdir(), "trellis-bench-logs-"));
  const env = (service: string, extra: Record<string, string> = {}) => ({
    ...serviceEnv(stack),
    MONGO_DB: `bench_${service}_${suffix}`,
    // As in production: the gateway logs every request at info, to a file (see start below).
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
    ...extra,
  });
  return {
    stack,
    env,
    async start(service, extra) {
      // Logs go to a file, not through a pipe into this process, which also runs the load
      // generator: draining thousands of lines a second here would slow the client, not the server.
      const p = await startService(service, env(service, extra), {
        logFile: join(logDir, `${service}-${procs.length}.log`),
      });
      p.discardOutput();
      procs.push(p);
      return p;
    },
    async stop() {
      await Promise.all(procs.map((p) => p.stop()));
      await stack.stop();
      process.stderr.write(`bench: service logs kept in ${logDir}\n`);
    },
  };
}

/** Bare Express "hello" in its own process, like the gateway. */
export async function startHello(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, "hello-server.ts"), String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill("SIGTERM") };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export async function load(options: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ duration: DURATION_S, connections: CONNECTIONS, ...options });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

// ---------------------------------------------------------------------------------------------
// CPU per process, from /proc/<pid>/stat (utime + stime), for this process and its descendants.

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // Linux's usual value
}

interface ProcStat {
  ppid: number;
  comm: string;
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    const f = text.slice(close + 2).split(" ");
    // After the comm: state(0) ppid(1) ... utime(11) stime(12)
    return { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds so far per process name, for this process and every descendant. */
function cpuSnapshot(names: ReadonlyMap<number, string>): Map<string, number> {
  const all = new Map<number, ProcStat>();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return new Map();
  }
  for (const p of pids) {
    const s = readStat(Number(p));
    if (s) all.set(Number(p), s);
  }
  const mine = new Set([process.pid]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [pid, s] of all) {
      if (!mine.has(pid) && mine.has(s.ppid)) {
        mine.add(pid);
        changed = true;
      }
    }
  }
  const out = new Map<string, number>();
  for (const pid of mine) {
    const s = all.get(pid);
    if (!s) continue;
    const name = names.get(pid) ?? (pid === process.pid ? "bench (load generator)" : s.comm);
    out.set(name, (out.get(name) ?? 0) + s.ticks / clockTicks);
  }
  return out;
}

export interface CpuPhase {
  phase: string;
  seconds: number;
  cpu: Map<string, number>;
}

/** Runs `run` as one phase and records the CPU each process used meanwhile. */
export async function measureCpu<T>(
  phases: CpuPhase[],
  phase: string,
  names: ReadonlyMap<number, string>,
  run: () => Promise<T>,
): Promise<T> {
  const before = cpuSnapshot(names);
  const t0 = performance.now();
  try {
    return await run();
  } finally {
    const seconds = (performance.now() - t0) / 1000;
    const after = cpuSnapshot(names);
    const cpu = new Map<string, number>();
    for (const [name, v] of after) cpu.set(name, v - (before.get(name) ?? 0));
    phases.push({ phase, seconds, cpu });
  }
}

/** CPU per process and phase, % of one core (the whole stack shares this machine's cores). */
export function printCpuTable(phases: readonly CpuPhase[]): void {
  const procNames = [...new Set(phases.flatMap((p) => [...p.cpu.keys()]))].sort();
  const col = 22;
  process.stdout.write(`\nCPU per process, % of one core (${availableParallelism()} cores)\n`);
  process.stdout.write(`${"".padEnd(24)}${phases.map((p) => p.phase.padStart(col)).join("")}\n`);
  for (const name of procNames) {
    const cells = phases.map((p) => `${((100 * (p.cpu.get(name) ?? 0)) / p.seconds).toFixed(0)} %`.padStart(col));
    process.stdout.write(`${name.padEnd(24)}${cells.join("")}\n`);
  }
  const lengths = phases.map((p) => `${p.seconds.toFixed(1)} s`.padStart(col)).join("");
  process.stdout.write(`${"(phase length)".padEnd(24)}${lengths}\n`);
}

/**
 * A device reading as the ingest consumer receives it from JetStream, for driving telemetry's
 * round code in-process (no NATS): acks and naks do nothing.
 */
export function fakeReadingMsg(subject: string, reading: { timestamp: number }, seq: number): JsMsg {
  return {
    subject,
    data: new TextEncoder().encode(JSON.stringify(reading)),
    seq,
    timestampNanos: BigInt(reading.timestamp) * 1_000_000n,
    ack() {},
    nak() {},
    term() {},
  } as unknown as JsMsg;
}

/**
 * `count` device readings as fakeReadingMsg messages, round robin over the monitors `ids` (the
 * i-th of `ids[i % ids.length]`, measured at `at(i)`, sequence i + 1): a run of telemetry's round
 * code in-process.
 */
export function fakeReadingMsgs(ids: readonly string[], count: number, at: (i: number) => number): JsMsg[] {
  const gens = ids.map((id) => readingGenerator(id));
  return Array.from({ length: count }, (_, i) => {
    const m = i % ids.length;
    const reading = (gens[m] as ReadingGenerator).next(at(i));
    return fakeReadingMsg(deviceSubjects.readings(ids[m] as string), reading, i + 1);
  });
}

/** A monitor as telemetry creates one, nothing stored yet: for benches that make monitors without the API. */
export const monitorDoc = (_id: string, ownerId: string): MonitorDoc => ({
  _id,
  ownerId,
  createdAt: new Date(),
  readingsStored: 0,
  readingsRejected: 0,
});

/** Readings stored so far: the sum of the monitors' `readingsStored` counters in telemetry's database. */
export async function storedReadings(db: Db, ids: readonly string[]): Promise<number> {
  const docs = await db
    .collection<{ _id: string; readingsStored?: number }>("monitors")
    .find({ _id: { $in: [...ids] } }, { projection: { readingsStored: 1 } })
    .toArray();
  return docs.reduce((a, d) => a + (d.readingsStored ?? 0), 0);
}
