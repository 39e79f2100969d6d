import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { generateNatsAuth, type NatsAuth, natsServerConfig } from "./nats-config.ts";
import { freePort, waitForPort } from "./ports.ts";
import { REDIS_DURABILITY_ARGS } from "./redis-config.ts";
import { describeExit, type Running, runningOf } from "./supervisor.ts";
import type { DbBackend, Dependency, ServerName } from "./types.ts";

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
  name: ServerName;
  command: string;
  args: string[];
  port: number;
  url: string;
  timeoutMs?: number;
  natsAuth?: NatsAuth;
  /** NATS's HTTP monitoring endpoint, when the server has one. */
  monitorUrl?: string;
  /** Ready only once stderr shows this too (a server that accepts TCP before it can serve). */
  readyLine?: RegExp;
  /** The graceful stop signal, when not SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** Run as this user (PostgreSQL refuses to run as root). */
  user?: { uid: number; gid: number };
  cwd?: string;
  /** Said after the command in `description`, e.g. FerretDB's backend. */
  note?: string;
}

/** Starts the server and resolves once it accepts connections; rejects (and kills it) when it exits first or times out. */
async function spawnOnce(spec: SpawnSpec): Promise<Running> {
  // Own process group: a terminal's Ctrl-C reaches the launcher, which stops servers last,
  // after the services that use them have drained.
  const child: ChildProcess = spawn(spec.command, spec.args, {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
    ...(spec.user ?? {}),
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
  });
  let stderr = "";
  let sawReadyLine: () => void = () => {};
  const readyLine = new Promise<void>((resolve) => {
    sawReadyLine = resolve;
  });
  let tail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    if (stderr.length < 10_000) stderr += text;
    if (spec.readyLine) {
      tail = (tail + text).slice(-4_000);
      if (spec.readyLine.test(tail)) sawReadyLine();
    }
  });
  const running = runningOf(child, 5_000, spec.stopSignal);
  const failed = running.exited.then((exit) => {
    throw new Error(`${spec.name} (${spec.command}) ${describeExit(exit)} before it was ready:\n${stderr}`);
  });
  failed.catch(() => {});
  const timeoutMs = spec.timeoutMs ?? 20_000;
  const ready = spec.readyLine
    ? Promise.all([
        waitForPort(spec.port, timeoutMs),
        Promise.race([
          readyLine,
          new Promise((_, reject) => {
            setTimeout(
              () => reject(new Error(`${spec.name} not ready after ${timeoutMs} ms:\n${stderr}`)),
              timeoutMs,
            ).unref();
          }),
        ]),
      ])
    : waitForPort(spec.port, timeoutMs);
  try {
    await Promise.race([ready, failed]);
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
    description: `${spec.command}${spec.note ? ` ${spec.note}` : ""} (pid ${current?.pid})`,
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

export interface MongoBinaryOptions {
  /** Default sqlite (SQLite files in `<dataDir>/ferretdb`). */
  backend?: DbBackend;
  /** With backend postgresql: the server's URL (`startPostgresBinary`). */
  postgresUrl?: string;
  /** Serve Go's pprof endpoints there (benchmarks profile FerretDB through it). */
  debugAddr?: string;
  /** SQLite only: fsync every commit (`full`) instead of the default `normal` (docs/durability.md). */
  sqliteSynchronous?: "normal" | "full";
}

/** FerretDB on 127.0.0.1, on SQLite (default) or on the PostgreSQL server at `postgresUrl`. */
export async function startMongoBinary(
  dataDir: string,
  port?: number,
  options: MongoBinaryOptions = {},
): Promise<Dependency> {
  const p = port ?? (await freePort());
  const backend = options.backend ?? "sqlite";
  let storage: string[];
  if (backend === "postgresql") {
    if (!options.postgresUrl) throw new Error("startMongoBinary: backend postgresql needs postgresUrl");
    storage = ["--handler", "postgresql", "--postgresql-url", options.postgresUrl];
  } else {
    storage = ["--handler", "sqlite", "--data-dir", ensureDir(join(dataDir, "ferretdb"))];
    if (options.sqliteSynchronous) storage.push("--synchronous", options.sqliteSynchronous);
  }
  return spawnServer({
    name: "mongo",
    command: binaryPath("ferretdb"),
    args: [
      "--listen-addr",
      `127.0.0.1:${p}`,
      ...storage,
      ...(options.debugAddr ? ["--debug-addr", options.debugAddr] : []),
    ],
    port: p,
    url: `mongodb://127.0.0.1:${p}`,
    note: `on ${backend === "postgresql" ? "PostgreSQL" : "SQLite"}`,
  });
}

/** The superuser initdb creates, which FerretDB connects as (trust on 127.0.0.1, like FerretDB itself). */
const PG_USER = "trellis";

/**
 * PostgreSQL's settings for FerretDB on one node, as `-c` flags (visible here rather than in a
 * file under the data directory). Why each: docs/decisions/database-backend.md.
 */
export const POSTGRES_SETTINGS: Readonly<Record<string, string>> = {
  // A commit (FerretDB acknowledges a write after it) waits for its WAL to reach the disk: an
  // acknowledged write survives a crash of PostgreSQL and of the machine. `off` would acknowledge
  // before the WAL is even written, so a crash of PostgreSQL alone could lose the last ~600 ms of
  // acknowledged writes: weaker than SQLite's WAL + synchronous=NORMAL, which survives that.
  synchronous_commit: "on",
  // Concurrent commits share one WAL flush (group commit) without waiting: commit_delay stays 0.
  shared_buffers: "256MB",
  // FerretDB's unpushed filters are sequential scans that the planner may cost high enough to JIT
  // compile: ~50-100 ms of compiling for a query that runs in a few ms.
  jit: "off",
  // Only FerretDB connects (its pool holds up to 50): the default 100 is plenty.
  max_connections: "100",
  listen_addresses: "127.0.0.1",
  // No unix socket: its default directory (/var/run/postgresql) may not exist or be writable.
  unix_socket_directories: "",
};

/** The PostgreSQL binaries: TRELLIS_POSTGRES_BINDIR, or Debian's for the data's major version (else the newest). */
export function postgresBinDir(dataVersion?: string): string {
  const given = process.env.TRELLIS_POSTGRES_BINDIR;
  if (given) return given;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const version = dataVersion && versions.includes(dataVersion) ? dataVersion : versions[0];
  if (!version) {
    throw new Error(
      "PostgreSQL not found in /usr/lib/postgresql: install Debian's postgresql (scripts/install-deps.sh does as root) or set TRELLIS_POSTGRES_BINDIR",
    );
  }
  return join(root, version, "bin");
}

/** Whom PostgreSQL runs as: this user, or when root (which PostgreSQL refuses) Debian's `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (!uid || !gid) {
    throw new Error(
      "PostgreSQL cannot run as root and there is no 'postgres' user (Debian's postgresql package adds it)",
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * PostgreSQL for FerretDB's postgresql backend: a cluster of its own in `<dataDir>/postgresql`
 * (initdb on first use), on 127.0.0.1:`port`, run as the `postgres` user when this is root.
 * Stopped with SIGINT (fast shutdown: sessions ended, a checkpoint, exit), so a stop does not wait
 * for FerretDB to hang up. `persistent`: initdb syncs its files (tests skip that).
 */
export async function startPostgresBinary(
  dataDir: string,
  persistent: boolean,
  port?: number,
  /** Over POSTGRES_SETTINGS (benchmarks: synchronous_commit=off for comparison, pg_stat_statements). */
  settingsOverride: Readonly<Record<string, string>> = {},
): Promise<Dependency> {
  const p = port ?? (await freePort());
  const dir = join(dataDir, "postgresql");
  const user = postgresUser();
  if (user) {
    // The postgres user must reach the data directory: the harness's temporary one is 0700.
    const mode = statSync(dataDir).mode;
    if ((mode & 0o001) === 0) chmodSync(dataDir, (mode & 0o7777) | 0o001);
  }
  const versionFile = join(dir, "PG_VERSION");
  const bin = postgresBinDir(existsSync(versionFile) ? readFileSync(versionFile, "utf8").trim() : undefined);
  if (!existsSync(versionFile)) {
    // Into a side directory first, then renamed: an interrupted initdb leaves no half cluster.
    const init = `${dir}.init`;
    rmSync(init, { recursive: true, force: true });
    mkdirSync(init, { mode: 0o700 });
    if (user) chownSync(init, user.uid, user.gid);
    try {
      execFileSync(
        join(bin, "initdb"),
        [
          "-D",
          init,
          "-U",
          PG_USER,
          "--auth=trust",
          "--encoding=UTF8",
          "--locale=C",
          "--no-instructions",
          ...(persistent ? [] : ["--no-sync"]),
        ],
        { stdio: ["ignore", "ignore", "pipe"], cwd: init, ...(user ?? {}) },
      );
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
      throw new Error(`initdb of ${dir} failed: ${(err as Error).message}\n${stderr}`);
    }
    renameSync(init, dir);
  }
  const settings = Object.entries({ ...POSTGRES_SETTINGS, ...settingsOverride, port: String(p) }).flatMap(([k, v]) => [
    "-c",
    `${k}=${v}`,
  ]);
  return spawnServer({
    name: "postgres",
    command: join(bin, "postgres"),
    args: ["-D", dir, ...settings],
    port: p,
    url: `postgres://${PG_USER}@127.0.0.1:${p}/postgres`,
    // It accepts TCP while still recovering ("the database system is starting up").
    readyLine: /database system is ready to accept connections/,
    stopSignal: "SIGINT",
    timeoutMs: 60_000,
    ...(user ? { user } : {}),
    cwd: dirname(dir),
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
