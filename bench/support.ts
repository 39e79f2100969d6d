/** Shared pieces of the benchmark scripts: the stack, service processes, load runs. */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Stack, serviceEnv, startStack } from "@trellis/stack";
import { type ServiceProcess, startService, uniqueSuffix } from "@trellis/stack/testing";
import autocannon from "autocannon";

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
    LOG_LEVEL: "info",
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
