/**
 * Runs `npm start` / `npm run start:cluster` (the scripts themselves) as a test would a user: a
 * child process with its own ports and data directory, waited on until its `ready {json}` line,
 * inspected through its state file (`<data dir>/processes.json`: process name → pid), stopped with
 * SIGTERM. For the operability tests (supervision, cluster failover).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { portInUse } from "@trellis/stack";
import { connectDevices, type DeviceCredentials } from "../../scripts/devices/platform.ts";

const root = join(import.meta.dirname, "..", "..");

export interface ProcessState {
  kind: "server" | "service";
  state: "up" | "restarting" | "stopped";
  pid?: number;
  restarts: number;
  lastExit?: string;
}

export interface LaunchState {
  mode: "single" | "cluster";
  launcherPid: number;
  ready: boolean;
  gateways: string[];
  nats: string[];
  mongo?: string;
  redis?: string;
  down: string[];
  processes: Record<string, ProcessState>;
}

export interface Launched {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly stateFile: string;
  readonly ready: { gateways: string[]; nats: string[]; state: string };
  /** Everything the launcher wrote to stderr so far (its own lines and the services' logs). */
  stderr(): string;
  /** The services' JSON log lines (their stdout) so far. */
  logs(): string;
  state(): LaunchState;
  /** SIGTERM, then waits for the exit: the exit code, and whether the state file was left behind. */
  stop(): Promise<{ code: number | null; stateFileLeft: boolean }>;
}

/** `count` consecutive TCP ports, all free on 127.0.0.1, from a random base. */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const taken = await Promise.all(Array.from({ length: count }, (_, i) => portInUse(base + i)));
    if (!taken.some(Boolean)) return base;
  }
  throw new Error(`no run of ${count} free ports found`);
}

export const ADMIN = { username: "opsadmin", password: "Ops-admin-password-1" };

/**
 * Starts a start script with local binaries (what supervision restarts), its own data directory
 * and the given ports; resolves at its `ready` line, rejects when it exits first or after `timeoutMs`.
 */
export async function launch(
  script: "start.ts" | "start-cluster.ts",
  env: Record<string, string>,
  timeoutMs: number,
): Promise<Launched> {
  const dataDir = mkdtempSync(join(tmpdir(), "trellis-launch-"));
  const clean: Record<string, string | undefined> = { ...process.env };
  for (const v of ["TRELLIS_NATS_URL", "TRELLIS_MONGO_URL", "TRELLIS_REDIS_URL", "NATS_URL", "DOCKER_HOST"])
    delete clean[v];
  const child = spawn(process.execPath, [join(root, "scripts", script)], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...clean,
      TRELLIS_STACK: "binaries",
      TRELLIS_DATA_DIR: dataDir,
      TRELLIS_ADMIN_USERNAME: ADMIN.username,
      TRELLIS_ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: "warn",
      ...env,
    },
  });
  let stdout = "";
  let stderr = "";
  let logs = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 2_000_000) stderr = stderr.slice(-1_000_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = await new Promise<Launched["ready"]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} not ready within ${timeoutMs} ms:\n${tail(stderr)}`)),
      timeoutMs,
    );
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
      logs += c.toString();
      if (logs.length > 4_000_000) logs = logs.slice(-2_000_000);
      const line = stdout.split("\n").find((l) => l.startsWith("ready {"));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice("ready ".length)));
      }
      if (stdout.length > 1_000_000) stdout = stdout.slice(-100_000);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${tail(stderr)}`));
    });
  }).catch(async (err) => {
    child.kill("SIGTERM");
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  const stateFile = ready.state;
  return {
    child,
    dataDir,
    stateFile,
    ready,
    stderr: () => stderr,
    logs: () => logs,
    state: () => JSON.parse(readFileSync(stateFile, "utf8")) as LaunchState,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const code = await exited;
      const stateFileLeft = existsSync(stateFile);
      rmSync(dataDir, { recursive: true, force: true });
      return { code, stateFileLeft };
    },
  };
}

const tail = (text: string) => text.split("\n").slice(-40).join("\n");

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** GET `/readyz`: status and body (status 0 when nothing answers). */
export async function readyz(
  base: string,
): Promise<{ status: number; body: { down?: string[]; unavailable?: string[] } }> {
  try {
    const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(3_000) });
    return { status: res.status, body: (await res.json()) as { down?: string[] } };
  } catch {
    return { status: 0, body: {} };
  }
}

/**
 * kill -9 of one supervised process; resolves once every gateway's /readyz answers 200 again
 * (after the new process is up), with how long that took and what /readyz said while it was down.
 */
export async function killAndWaitReady(
  launched: Launched,
  name: string,
  timeoutMs: number,
): Promise<{ recoveredMs: number; newPid: number | undefined; downSeen: string[][] }> {
  const before = launched.state().processes[name];
  if (!before?.pid) throw new Error(`${name} has no pid in the state file`);
  const started = Date.now();
  process.kill(before.pid, "SIGKILL");
  const downSeen: string[][] = [];
  while (Date.now() - started < timeoutMs) {
    const now = launched.state().processes[name];
    const restarted = now?.state === "up" && now.pid !== before.pid;
    const checks = await Promise.all(launched.ready.gateways.map(readyz));
    for (const c of checks) if (c.status !== 200 && c.body.down) downSeen.push(c.body.down);
    if (restarted && checks.every((c) => c.status === 200)) {
      return { recoveredMs: Date.now() - started, newPid: now?.pid, downSeen };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} not back and ready within ${timeoutMs} ms:\n${tail(launched.stderr())}`);
}

/** The services' NATS login, from the generated server configuration in the launch's data directory. */
export function serviceLogin(configFile: string): { user: string; pass: string } {
  const m = /users: \[ \{ user: "([^"]+)", password: "([^"]+)" \} \]/.exec(readFileSync(configFile, "utf8"));
  if (!m) throw new Error(`no service user in ${configFile}`);
  return { user: m[1] as string, pass: m[2] as string };
}

/** A connection as the services (JetStream API access), to any of the servers. */
export async function connectAsService(
  servers: string[],
  configFile: string,
): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers, ...serviceLogin(configFile), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  return { nc, jsm: await jetstreamManager(nc) };
}

/** Devices connected one at a time (the simulator's connect, which retries a refused first connection). */
export const connectWithRetry = (natsUrls: string, devices: readonly DeviceCredentials[]): Promise<NatsConnection[]> =>
  connectDevices(natsUrls, devices, { concurrency: 1 });
