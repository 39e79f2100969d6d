/**
 * Fixtures for integration tests: real service processes started from their entry points against
 * the harness's servers, with their JSON logs captured for assertions.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { serviceArgs } from "./service-command.ts";
import type { Stack } from "./stack.ts";
import type { Dependency, DependencyName, Provenance } from "./types.ts";

const repoRoot = join(import.meta.dirname, "..", "..", "..");

export const uniqueSuffix = (): string => randomBytes(4).toString("hex");

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function failure<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    return err as E;
  }
  throw new Error("expected the call to fail");
}

export interface PollOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between probes (default 20 ms). */
  intervalMs?: number;
}

/**
 * Probes until `ok` holds or the time is up, and returns the last value either way (with how long
 * it took): the caller asserts on it, so a timeout fails with what was actually seen.
 */
export async function poll<T>(
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  { timeoutMs = 10_000, intervalMs = 20 }: PollOptions = {},
): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  let value = await probe();
  while (!ok(value) && Date.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await probe();
  }
  return { value, elapsedMs: Date.now() - started };
}

/** The first value `probe` returns that is not undefined; throws when the time is up. */
export async function eventually<T>(probe: () => T | undefined, options: PollOptions = {}): Promise<T> {
  const { value } = await poll(probe, (v) => v !== undefined, { timeoutMs: 3_000, ...options });
  if (value === undefined) throw new Error("condition not met in time");
  return value;
}

/**
 * The servers a test file uses: what the integration project's global setup provides
 * (`inject("stack")`), or that with the file's own NATS server (`useFileStack`, `@trellis/stack/vitest`).
 */
export interface ProvidedStack extends ProvidedNats {
  mongoUrl: string;
  redisUrl: string;
  via: Record<DependencyName, Provenance>;
}

/** The NATS part of a `ProvidedStack`. */
export interface ProvidedNats {
  natsUrl: string;
  natsUser: string;
  natsPassword: string;
  natsIssuerSeed: string;
}

export function providedNats(nats: Dependency): ProvidedNats {
  return {
    natsUrl: nats.url,
    natsUser: nats.natsAuth?.user ?? "",
    natsPassword: nats.natsAuth?.password ?? "",
    natsIssuerSeed: nats.natsAuth?.issuerSeed ?? "",
  };
}

export function providedStack(stack: Stack): ProvidedStack {
  return {
    mongoUrl: stack.mongo.url,
    redisUrl: stack.redis.url,
    ...providedNats(stack.nats),
    via: { mongo: stack.mongo.via, nats: stack.nats.via, redis: stack.redis.via },
  };
}

/** The environment every service process needs to reach the provided servers. */
export function serviceEnvFrom(stack: ProvidedStack): Record<string, string> {
  return {
    NATS_URL: stack.natsUrl,
    NATS_USER: stack.natsUser,
    NATS_PASSWORD: stack.natsPassword,
    NATS_CALLOUT_ISSUER_SEED: stack.natsIssuerSeed,
    MONGO_URL: stack.mongoUrl,
    REDIS_URL: stack.redisUrl,
  };
}

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** Parsed JSON log lines so far (non-JSON lines are kept as `{ raw }`). */
  readonly logs: Record<string, unknown>[];
  /** Raw stdout + stderr so far. */
  output(): string;
  /** Resolves with the exit code (or 128 + signal number when killed by a signal). */
  readonly exited: Promise<number>;
  /** Sends SIGTERM (or the given signal) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Stops keeping output (it is still drained): for long runs such as benchmarks. */
  discardOutput(): void;
  /** Waits until a log line matches, or rejects after `timeoutMs`. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export interface SpawnOptions {
  /**
   * Send the service's output to this file instead of a pipe read by this process (benchmarks:
   * the load generator should not be the one draining the logs). Logs are then read back from it.
   */
  logFile?: string;
}

/**
 * Every service this process spawned and has not seen exit: killed when this process exits, so a
 * test file that forgets one (or a runner that ends a worker mid-stop) leaves no orphan behind.
 */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * Spawns `node --import <tracing preload> services/<name>/src/main.ts` with the given environment
 * (added to the current one).
 */
export function spawnService(name: string, env: Record<string, string>, options: SpawnOptions = {}): ServiceProcess {
  const fd = options.logFile ? openSync(options.logFile, "a") : undefined;
  const child: ChildProcess = spawn(process.execPath, serviceArgs(repoRoot, name), {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: fd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd],
  });
  if (fd !== undefined) closeSync(fd);
  running.add(child);
  child.once("exit", () => running.delete(child));
  const logs: Record<string, unknown>[] = [];
  let raw = "";
  let pending = "";
  const waiters = new Set<() => void>();
  let discard = false;
  const onData = (chunk: Buffer) => {
    if (discard) return;
    const text = chunk.toString();
    raw += text;
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let filePoll: NodeJS.Timeout | undefined;
  if (options.logFile) {
    const file = options.logFile;
    let offset = 0;
    filePoll = setInterval(() => {
      if (discard) return;
      const content = readFileSync(file);
      if (content.length > offset) onData(content.subarray(offset));
      offset = content.length;
    }, 50);
    filePoll.unref();
  }
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => {
      clearInterval(filePoll);
      for (const w of waiters) w();
      resolve(code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0));
    }),
  );

  const proc: ServiceProcess = {
    name,
    pid: child.pid ?? -1,
    logs,
    output: () => raw,
    exited,
    discardOutput() {
      discard = true;
      logs.length = 0;
      raw = "";
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    waitForLog(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(match);
          if (found) {
            cleanup();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`${name} exited before the expected log line:\n${raw}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${name}: expected log line not seen within ${timeoutMs} ms:\n${raw}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
  return proc;
}

/**
 * How long a service may take to say "service ready": a start is ~1 s on a quiet machine, but
 * files start several services at once and CI runs them two files at a time on 2 vCPUs, where a
 * start was seen to take over 20 s (the old limit) without anything being wrong.
 */
const SERVICE_START_TIMEOUT_MS = 60_000;

/** Spawns a service and waits for its "service ready" line. */
export async function startService(
  name: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<ServiceProcess> {
  const proc = spawnService(name, env, options);
  try {
    await proc.waitForLog((l) => l.msg === "service ready", SERVICE_START_TIMEOUT_MS);
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
  return proc;
}
export { startDnsServer, type TestDnsServer } from "./dns-server.ts";
export { type OtlpReceiver, type ReceivedSpan, SPAN_KIND, startOtlpReceiver } from "./otlp-receiver.ts";
