import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { generateNatsAuth, natsServerConfig } from "./nats-config.ts";
import { freePort, waitForPort } from "./ports.ts";
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
}

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Starts the server process and waits until it accepts connections. */
async function launch(spec: SpawnSpec): Promise<Running> {
  // Own process group: a terminal's Ctrl-C reaches the launcher, which stops servers last,
  // after the services that use them have drained.
  const child: ChildProcess = spawn(spec.command, spec.args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 10_000) stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const failed = exited.then((code) => {
    throw new Error(`${spec.name} (${spec.command}) exited with ${code} before it was ready:\n${stderr}`);
  });
  failed.catch(() => {});
  try {
    await Promise.race([waitForPort(spec.port, spec.timeoutMs ?? 20_000), failed]);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return { child, exited };
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function terminate({ child, exited }: Running): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

async function spawnServer(spec: SpawnSpec): Promise<Dependency> {
  let current: Running | undefined = await launch(spec);
  let stopping: Promise<void> | undefined;
  return {
    name: spec.name,
    url: spec.url,
    via: "binary",
    description: `${spec.command} (pid ${current.child.pid})`,
    stop() {
      stopping ??= (async () => {
        if (current) await terminate(current);
        current = undefined;
      })();
      return stopping;
    },
    outage: {
      async down() {
        if (stopping) throw new Error(`${spec.name} was stopped for good`);
        if (current) await terminate(current);
        current = undefined;
      },
      async up() {
        if (stopping) throw new Error(`${spec.name} was stopped for good`);
        current ??= await launch(spec);
      },
    },
  };
}

const ensureDir = (dir: string): string => {
  mkdirSync(dir, { recursive: true });
  return dir;
};

export async function startNatsBinary(dataDir: string, port?: number): Promise<Dependency> {
  const p = port ?? (await freePort());
  const dir = ensureDir(join(dataDir, "nats"));
  const auth = generateNatsAuth();
  const configFile = join(dir, "nats.conf");
  writeFileSync(configFile, natsServerConfig({ listen: `127.0.0.1:${p}`, storeDir: dir, auth }), { mode: 0o600 });
  const dep = await spawnServer({
    name: "nats",
    command: binaryPath("nats-server"),
    args: ["-c", configFile],
    port: p,
    url: `nats://127.0.0.1:${p}`,
  });
  return { ...dep, natsAuth: auth };
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

export async function startRedisBinary(dataDir: string, persistent: boolean, port?: number): Promise<Dependency> {
  const p = port ?? (await freePort());
  const persistence = persistent ? ["--appendonly", "yes"] : ["--save", "", "--appendonly", "no"];
  return spawnServer({
    name: "redis",
    command: binaryPath("redis-server"),
    args: ["--bind", "127.0.0.1", "--port", String(p), "--dir", ensureDir(join(dataDir, "redis")), ...persistence],
    port: p,
    url: `redis://127.0.0.1:${p}`,
  });
}
