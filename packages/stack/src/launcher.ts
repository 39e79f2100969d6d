/**
 * What `npm start` and `npm run start:cluster` share: port checks, the supervised processes (servers
 * the harness started, service instances spawned here), waiting for `/readyz` on every gateway, the
 * `ready` line, a state file for scripts (which process has which pid), and a graceful stop on
 * Ctrl-C / SIGTERM / a crash loop that leaves no process behind.
 *
 * Machine-readable output, for scripts such as a fault injector: once every gateway's `/readyz`
 * answers 200, one line `ready {"gateways":[...],"nats":[...],"state":"<path>"}` goes to stdout.
 * The state file (JSON, rewritten on every change, removed on stop) lists the launcher's pid,
 * the URLs (gateways, NATS, MongoDB, Redis, PostgreSQL under FerretDB; no credentials) and, per process name (`nats`, `nats-2`, `mongo`, `postgres`, `redis`, `telemetry`, `gateway-2`...),
 * its kind, state (`up`, `restarting`, `stopped`), pid, restarts and last unexpected exit.
 */
import { spawn } from "node:child_process";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { portInUse } from "./ports.ts";
import { serviceArgs } from "./service-command.ts";
import { type Running, runningOf, Supervisor } from "./supervisor.ts";
import type { Dependency } from "./types.ts";

export const say = (line: string): void => void process.stderr.write(`trellis: ${line}\n`);

/** A TCP port from the environment, or the fallback; exits 78 with a message when it is not one. */
export function portFrom(variable: string, fallback: number): number {
  const raw = process.env[variable];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65_535) {
    say(`${variable} must be a TCP port, 1-65535 (got ${JSON.stringify(raw)})`);
    process.exit(78);
  }
  return value;
}

/**
 * Refuses a port something else already listens on: the readiness probe (gateway) or a device
 * (NATS) would otherwise reach that other server, and ours would fail to bind behind it.
 */
export async function ensureFree(
  variable: string,
  value: number,
  onHost: string,
  what: string,
  command = "npm start",
): Promise<void> {
  let taken: boolean;
  try {
    taken = await portInUse(value, onHost);
  } catch (err) {
    say(
      `cannot listen on ${onHost}:${value} for ${what} (${(err as Error).message}); choose another port with ${variable}`,
    );
    process.exit(1);
  }
  if (taken) {
    const example = value < 55_000 ? value + 10_000 : value - 10_000;
    say(
      `${onHost}:${value} is already in use, so ${what} cannot listen there (another ${command}?). ` +
        `Stop that process or choose another port, e.g. ${variable}=${example} ${command}`,
    );
    process.exit(1);
  }
}

export interface LauncherOptions {
  /** The repository root (services are started from `services/<name>/src/main.ts`). */
  root: string;
  /** Where the state file goes (`<dataDir>/processes.json`). */
  dataDir: string;
  mode: "single" | "cluster";
}

/** The running stack of a start script. */
export class Launcher {
  readonly supervisor: Supervisor;
  readonly stateFile: string;
  private readonly opts: LauncherOptions;
  /** Every server started (stopped after the supervised processes; idempotent for those). */
  private readonly servers: Dependency[] = [];
  /** Servers still starting: a stop waits for them, so that none is left running. */
  private starting: Promise<unknown> | undefined;
  private stopping = false;
  private urls: { gateways: string[]; nats: string[]; mongo?: string; redis?: string; postgres?: string } = {
    gateways: [],
    nats: [],
  };
  private ready = false;

  constructor(opts: LauncherOptions) {
    this.opts = opts;
    this.stateFile = join(opts.dataDir, "processes.json");
    this.supervisor = new Supervisor({
      log: say,
      onGiveUp: () => void this.stop(1),
      onChange: () => this.writeState(),
    });
    process.once("SIGINT", () => void this.stop(0));
    process.once("SIGTERM", () => void this.stop(0));
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Supervises a server the harness started as a local binary (restarted on the same port, data
   * and configuration when it dies); a container or a server given by URL is only stopped at the end.
   */
  async addServer(name: string, dep: Dependency): Promise<void> {
    if (!this.servers.includes(dep)) this.servers.push(dep);
    if (dep.name === "mongo" || dep.name === "redis" || dep.name === "postgres") this.urls[dep.name] = dep.url;
    const { process: running, respawn } = dep;
    if (!running || !respawn) {
      say(`${name} runs ${dep.via === "env" ? "outside this stack" : `as a ${dep.via}`}: not supervised`);
      return;
    }
    await this.supervisor.add({ name, kind: "server", start: () => respawn.call(dep) }, running);
  }

  /**
   * Waits for servers being started; a Ctrl-C meanwhile stops them once they are up (they run in
   * their own process groups, so the terminal's signal does not reach them).
   */
  async startServers<T extends Dependency[]>(start: Promise<T>): Promise<T> {
    const tracked = start.then((deps) => {
      this.servers.push(...deps.filter((d) => !this.servers.includes(d)));
      return deps;
    });
    this.starting = Promise.allSettled([this.starting, tracked]);
    return tracked;
  }

  /** Starts and supervises one instance of a service. */
  async addService(name: string, service: string, env: Record<string, string>): Promise<void> {
    const { root } = this.opts;
    await this.supervisor.add({
      name,
      kind: "service",
      start: async (): Promise<Running> => {
        const child = spawn(process.execPath, serviceArgs(root, service), {
          cwd: root,
          stdio: ["ignore", "inherit", "inherit"],
          detached: true, // signals come from this launcher only, in order
          env: { ...process.env, ...env },
        });
        return runningOf(child, 15_000);
      },
      fatal: (exit) => (exit.code === 78 ? "its configuration is invalid (see above)" : undefined),
    });
  }

  /**
   * Waits until `/readyz` answers 200 on every gateway, then prints the ready lines (stderr for
   * people, one `ready {json}` line on stdout for scripts). Resolves false when the time is up.
   */
  async waitReady(gateways: string[], nats: string[], timeoutMs: number, extra: string[] = []): Promise<boolean> {
    this.urls = { ...this.urls, gateways, nats };
    this.writeState();
    const deadline = Date.now() + timeoutMs;
    const isReady = async (base: string) => {
      try {
        return (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok;
      } catch {
        return false;
      }
    };
    while (!this.stopping && Date.now() < deadline) {
      if ((await Promise.all(gateways.map(isReady))).every(Boolean)) {
        this.ready = true;
        this.writeState();
        const n = gateways.length;
        say(
          `ready (readyz on ${n === 1 ? "the gateway" : `all ${n} gateways`}: every service healthy). Ctrl-C stops everything.`,
        );
        gateways.forEach((g, i) => void say(`  ${(n > 1 ? `gateway ${i + 1}` : "gateway").padEnd(18)}${g}`));
        say(`  NATS for devices  ${nats.join(",")}`);
        for (const line of extra) say(`  ${line}`);
        process.stdout.write(`ready ${JSON.stringify({ gateways, nats, state: this.stateFile })}\n`);
        return true;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    if (!this.stopping) say(`not ready within ${timeoutMs / 1000} s; see the logs above`);
    return false;
  }

  /** Stops everything (services, then servers), removes the state file and exits. Idempotent. */
  async stop(code: number): Promise<never> {
    if (this.stopping) return new Promise(() => {});
    this.stopping = true;
    say("stopping services, then servers");
    await this.starting;
    await this.supervisor.stopAll();
    await Promise.allSettled(this.servers.map((d) => d.stop()));
    rmSync(this.stateFile, { force: true });
    say("stopped");
    process.exit(code);
  }

  private writeState(): void {
    const state = {
      mode: this.opts.mode,
      launcherPid: process.pid,
      ready: this.ready,
      ...this.urls,
      down: this.supervisor.down(),
      processes: this.supervisor.snapshot(),
    };
    try {
      mkdirSync(this.opts.dataDir, { recursive: true });
      const tmp = `${this.stateFile}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
      renameSync(tmp, this.stateFile);
    } catch (err) {
      say(`could not write ${this.stateFile}: ${(err as Error).message}`);
    }
  }
}
