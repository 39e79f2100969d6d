import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { generateNatsAuth, type NatsAuth, natsServerConfig } from "./nats-config.ts";
import { freePort, waitForPort } from "./ports.ts";
import { REDIS_DURABILITY_ARGS } from "./redis-config.ts";
import { describeExit, type Running, runningOf } from "./supervisor.ts";
import type { Dependency, DependencyName } from "./types.ts";

/** Where scripts/install-deps.sh puts nats-server, ferretdb and a redis-server link. */
export const binDir = (): string => join(process.env.TRELLIS_CACHE ?? join(homedir(), ".cache", "trellis"), "bin");

export function binaryPath(name: "nats-server" | "ferretdb" | "redis-server"): string {
  const cached = join(binDir(), name);
  if (existsSync(cached)) return cached;
  if (name === "redis-server" && existsSync("/usr/bin/redis-server")) return "/usr/bin/redis-server";
  throw new Error(
    `${name} not found in ${binDir()}: run scripts/install-deps.sh (npm start and npm test run it for you)`,
  );
}

/** Also yt-dlp, which the analysis service needs (it does not start without it). */
export const binariesInstalled = (): boolean =>
  ["nats-server", "ferretdb", "yt-dlp"].every((n) => existsSync(join(binDir(), n))) &&
  (existsSync(join(binDir(), "redis-server")) || existsSync("/usr/bin/redis-server"));

/** Runs scripts/install-deps.sh when a binary is missing (first run on a machine); cached after. */
export function ensureLocalBinaries(log?: (line: string) => void): void {
  if (binariesInstalled()) return;
  log?.("stack: installing local servers (first run on this machine; cached afterwards)");
  const script = join(import.meta.dirname, "..", "..", "..", "scripts", "install-deps.sh");
  execFileSync("bash", [script], { stdio: ["ignore", "inherit", "inherit"] });
}

interface SpawnSpec {
  name: DependencyName;
  command: string;
  args: string[];
  port: number;
  url: string;
  timeoutMs?: number;
  natsAuth?: NatsAuth;
  /** NATS's HTTP monitoring endpoint, when the server has one. */
  monitorUrl?: string;
}

/** Starts the server and resolves once it accepts connections; rejects (and kills it) when it exits first or times out. */
async function spawnOnce(spec: SpawnSpec): Promise<Running> {
  // Own process group: a terminal's Ctrl-C reaches the launcher, which stops servers last,
  // after the services that use them have drained.
  const child: ChildProcess = spawn(spec.command, spec.args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 10_000) stderr += chunk.toString();
  });
  const running = runningOf(child, 5_000);
  const failed = running.exited.then((exit) => {
    throw new Error(`${spec.name} (${spec.command}) ${describeExit(exit)} before it was ready:\n${stderr}`);
  });
  failed.catch(() => {});
  try {
    await Promise.race([waitForPort(spec.port, spec.timeoutMs ?? 20_000), failed]);
  } catch (err) {
    child.kill("SIGKILL");
    await running.exited;
    throw err;
  }
  return running;
}

/**
 * A server process on a fixed port. `respawn()` starts it again with the same arguments (same
 * port, same data directory, same configuration file), which is how the supervisor of `npm start`
 * restarts a server that died; `stop()` stops whichever process is current.
 */
async function spawnServer(spec: SpawnSpec): Promise<Dependency> {
  let current: Running | undefined = await spawnOnce(spec);
  let stopping: Promise<void> | undefined;
  return {
    name: spec.name,
    url: spec.url,
    via: "binary",
    description: `${spec.command} (pid ${current?.pid})`,
    ...(spec.natsAuth ? { natsAuth: spec.natsAuth } : {}),
    ...(spec.monitorUrl ? { monitorUrl: spec.monitorUrl } : {}),
    get process() {
      return current;
    },
    async respawn() {
      if (stopping) throw new Error(`${spec.name} is stopping`);
      current = await spawnOnce(spec);
      return current;
    },
    stop() {
      stopping ??= (async () => {
        await current?.stop();
        current = undefined;
      })();
      return stopping;
    },
    outage: {
      async down() {
        if (stopping) throw new Error(`${spec.name} was stopped for good`);
        await current?.stop();
        current = undefined;
      },
      async up() {
        if (stopping) throw new Error(`${spec.name} was stopped for good`);
        current ??= await spawnOnce(spec);
      },
    },
  };
}

const ensureDir = (dir: string): string => {
  mkdirSync(dir, { recursive: true });
  return dir;
};

/**
 * `syncInterval`: JetStream's fsync setting, JETSTREAM_SYNC_INTERVAL (`always`) unless given (the
 * benchmark runs a second server with nats-server's default beside it). The monitoring endpoint
 * (`/varz`, `/healthz`) listens on a free port of 127.0.0.1: `monitorUrl`.
 */
export async function startNatsBinary(
  dataDir: string,
  port?: number,
  options: { syncInterval?: string } = {},
): Promise<Dependency> {
  const p = port ?? (await freePort());
  const monitorPort = await freePort();
  const dir = ensureDir(join(dataDir, "nats"));
  const auth = generateNatsAuth();
  const configFile = join(dir, "nats.conf");
  const config = natsServerConfig({
    listen: `127.0.0.1:${p}`,
    monitorListen: `127.0.0.1:${monitorPort}`,
    storeDir: dir,
    auth,
    ...(options.syncInterval ? { syncInterval: options.syncInterval } : {}),
  });
  writeFileSync(configFile, config, { mode: 0o600 });
  return spawnServer({
    name: "nats",
    command: binaryPath("nats-server"),
    args: ["-c", configFile],
    port: p,
    url: `nats://127.0.0.1:${p}`,
    natsAuth: auth,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
  });
}

export async function startMongoBinary(dataDir: string, port?: number): Promise<Dependency> {
  const p = port ?? (await freePort());
  return spawnServer({
    name: "mongo",
    command: binaryPath("ferretdb"),
    args: ["--listen-addr", `127.0.0.1:${p}`, "--data-dir", ensureDir(join(dataDir, "ferretdb"))],
    port: p,
    url: `mongodb://127.0.0.1:${p}`,
  });
}

/**
 * Always with the append-only file (REDIS_DURABILITY_ARGS), test servers too, so tests run on the
 * configuration BullMQ gets in production; `persistent` only decides where the data directory is
 * kept (the caller's dataDir is temporary for tests).
 */
export async function startRedisBinary(dataDir: string, _persistent: boolean, port?: number): Promise<Dependency> {
  const p = port ?? (await freePort());
  return spawnServer({
    name: "redis",
    command: binaryPath("redis-server"),
    args: [
      "--bind",
      "127.0.0.1",
      "--port",
      String(p),
      "--dir",
      ensureDir(join(dataDir, "redis")),
      ...REDIS_DURABILITY_ARGS,
    ],
    port: p,
    url: `redis://127.0.0.1:${p}`,
  });
}

/** One node of `startNatsClusterBinaries`. */
export interface NatsNodePorts {
  client: number;
  route: number;
}

/**
 * A NATS cluster of local nats-server processes (`npm run start:cluster`): one node per entry of
 * `nodes`, named `trellis-<i>` (JetStream needs unique server names), each with its own store
 * directory `<dataDir>/nats-<i>`, JetStream on, explicit routes to every other node, one set of
 * credentials for all (a service may connect to any node). Nodes start together: JetStream waits
 * for a quorum of the cluster, so one at a time would not do. Route connections carry a password
 * of their own.
 */
export async function startNatsClusterBinaries(
  dataDir: string,
  nodes: readonly NatsNodePorts[],
): Promise<Dependency[]> {
  const auth = generateNatsAuth();
  const routeAuth = { user: "route", password: generateNatsAuth().password };
  const specs = nodes.map((node, i) => {
    const n = i + 1;
    const dir = ensureDir(join(dataDir, `nats-${n}`));
    const configFile = join(dir, "nats.conf");
    const config = natsServerConfig({
      listen: `127.0.0.1:${node.client}`,
      storeDir: dir,
      auth,
      serverName: `trellis-${n}`,
      cluster: {
        name: "trellis",
        listen: `127.0.0.1:${node.route}`,
        routes: nodes.filter((_, j) => j !== i).map((o) => `127.0.0.1:${o.route}`),
        ...routeAuth,
      },
    });
    writeFileSync(configFile, config, { mode: 0o600 });
    return {
      name: "nats" as const,
      command: binaryPath("nats-server"),
      args: ["-c", configFile],
      port: node.client,
      url: `nats://127.0.0.1:${node.client}`,
      natsAuth: auth,
    };
  });
  const settled = await Promise.allSettled(specs.map((spec) => spawnServer(spec)));
  const started = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failure = settled.find((r) => r.status === "rejected");
  if (failure) {
    await Promise.allSettled(started.map((d) => d.stop()));
    throw (failure as PromiseRejectedResult).reason;
  }
  return started;
}
