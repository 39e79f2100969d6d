import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureLocalBinaries, startMongoBinary, startNatsBinary, startRedisBinary } from "./binaries.ts";
import { containerRuntimeReachable, startContainer } from "./containers.ts";
import type { Dependency, DependencyName, StartOptions } from "./types.ts";

const ENV_URL: Record<DependencyName, string> = {
  mongo: "TRELLIS_MONGO_URL",
  nats: "TRELLIS_NATS_URL",
  redis: "TRELLIS_REDIS_URL",
};

/**
 * `TRELLIS_STACK` forces a path: `containers` (fail rather than fall back, as CI does), `binaries`,
 * or `auto` (default): a URL from the environment → Testcontainers if a runtime is reachable →
 * local binaries.
 */
export type StackMode = "auto" | "containers" | "binaries";

export function stackMode(): StackMode {
  const mode = process.env.TRELLIS_STACK ?? "auto";
  if (mode !== "auto" && mode !== "containers" && mode !== "binaries") {
    throw new Error(`TRELLIS_STACK must be auto, containers or binaries (got ${JSON.stringify(mode)})`);
  }
  return mode;
}

/** The environment a service needs to reach the stack (NATS credentials included). */
export function serviceEnv(stack: Stack): Record<string, string> {
  const auth = stack.nats.natsAuth;
  return {
    NATS_URL: stack.nats.url,
    MONGO_URL: stack.mongo.url,
    REDIS_URL: stack.redis.url,
    ...(auth ? { NATS_USER: auth.user, NATS_PASSWORD: auth.password, NATS_CALLOUT_ISSUER_SEED: auth.issuerSeed } : {}),
  };
}

export interface Stack {
  readonly mongo: Dependency;
  readonly nats: Dependency;
  readonly redis: Dependency;
  readonly dataDir: string;
  stop(): Promise<void>;
}

async function useContainers(): Promise<boolean> {
  const mode = stackMode();
  if (mode === "binaries") return false;
  const reachable = await containerRuntimeReachable();
  if (mode === "containers" && !reachable) {
    throw new Error("TRELLIS_STACK=containers but no container runtime is reachable (check DOCKER_HOST)");
  }
  return reachable;
}

/** Starts (or finds) one dependency. */
export async function startDependency(
  name: DependencyName,
  options: StartOptions & { dataDir: string },
): Promise<Dependency> {
  const given = process.env[ENV_URL[name]];
  let dep: Dependency;
  if (given) {
    // A given NATS server must be configured like ours (nats-config.ts); its credentials come along.
    const natsAuth =
      name === "nats" && process.env.TRELLIS_NATS_USER
        ? {
            user: process.env.TRELLIS_NATS_USER,
            password: process.env.TRELLIS_NATS_PASSWORD ?? "",
            issuerPublicKey: "",
            issuerSeed: process.env.TRELLIS_NATS_ISSUER_SEED ?? "",
          }
        : undefined;
    dep = {
      name,
      url: given,
      via: "env",
      description: `${ENV_URL[name]}`,
      stop: async () => {},
      ...(natsAuth ? { natsAuth } : {}),
      ...(name === "nats" && process.env.TRELLIS_NATS_MONITOR_URL
        ? { monitorUrl: process.env.TRELLIS_NATS_MONITOR_URL }
        : {}),
    };
  } else if (await useContainers()) {
    dep = await startContainer(name, options.ports?.[name]);
  } else if (name === "mongo") {
    ensureLocalBinaries(options.log);
    dep = await startMongoBinary(options.dataDir, options.ports?.mongo);
  } else if (name === "nats") {
    ensureLocalBinaries(options.log);
    dep = await startNatsBinary(options.dataDir, options.ports?.nats);
  } else {
    ensureLocalBinaries(options.log);
    dep = await startRedisBinary(options.dataDir, options.persistent ?? false, options.ports?.redis);
  }
  options.log?.(`stack: ${name} via ${dep.via}: ${dep.description} at ${dep.url}`);
  return dep;
}

/** A data directory for local binaries: the given one, or a fresh temporary one removed by `release`. */
function dataDirFor(options: StartOptions): { dataDir: string; release: () => void } {
  if (options.dataDir) return { dataDir: options.dataDir, release: () => {} };
  const dataDir = mkdtempSync(join(tmpdir(), "trellis-stack-"));
  return { dataDir, release: () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** Starts MongoDB-protocol, NATS (JetStream) and Redis servers; `stop()` stops what it started. */
export async function startStack(options: StartOptions = {}): Promise<Stack> {
  const { dataDir, release } = dataDirFor(options);
  const started: Dependency[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.map((d) => d.stop()));
    release();
  };
  try {
    const opts = { ...options, dataDir };
    const [mongo, nats, redis] = await Promise.all(
      (["mongo", "nats", "redis"] as const).map(async (n) => {
        const d = await startDependency(n, opts);
        started.push(d);
        return d;
      }),
    );
    return { mongo: mongo as Dependency, nats: nats as Dependency, redis: redis as Dependency, dataDir, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Starts (or finds) a NATS server alone, by the same rules and with the same configuration as
 * `startStack`: for integration test files that each need a subject space of their own. With
 * `TRELLIS_NATS_URL` set this is that one shared server (`via: "env"`), not a new one.
 */
export async function startNats(options: StartOptions = {}): Promise<Dependency> {
  const { dataDir, release } = dataDirFor(options);
  let nats: Dependency;
  try {
    nats = await startDependency("nats", { ...options, dataDir });
  } catch (err) {
    release();
    throw err;
  }
  return {
    ...nats,
    async stop() {
      try {
        await nats.stop();
      } finally {
        release();
      }
    },
  };
}
