import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ensureLocalBinaries,
  startMongoBinary,
  startNatsBinary,
  startPostgresBinary,
  startRedisBinary,
} from "./binaries.ts";
import { containerRuntimeReachable, startContainer } from "./containers.ts";
import type { DbBackend, Dependency, DependencyName, StartOptions } from "./types.ts";

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

/** FerretDB's backend unless TRELLIS_DB_BACKEND says otherwise: the faster one measured here (docs/decisions/database-backend.md). */
export const DEFAULT_DB_BACKEND: DbBackend = "sqlite";

/** `TRELLIS_DB_BACKEND`: `sqlite` or `postgresql` (FerretDB run by the harness as a local binary). */
export function dbBackend(): DbBackend {
  const raw = process.env.TRELLIS_DB_BACKEND;
  if (raw === undefined || raw === "") return DEFAULT_DB_BACKEND;
  if (raw !== "sqlite" && raw !== "postgresql") {
    throw new Error(`TRELLIS_DB_BACKEND must be sqlite or postgresql (got ${JSON.stringify(raw)})`);
  }
  return raw;
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
  /** The PostgreSQL server under FerretDB, when it runs on the postgresql backend. */
  readonly postgres?: Dependency;
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

/**
 * FerretDB as a local binary on `backend`, and on postgresql the PostgreSQL server under it
 * (started first; stopped by the caller with FerretDB). Whatever the stack mode: for a test that
 * runs the backend the rest of the stack does not use.
 */
export async function startFerretBinaries(
  options: StartOptions & {
    dataDir: string;
    backend: DbBackend;
    debugAddr?: string;
    postgresSettings?: Readonly<Record<string, string>>;
    sqliteSynchronous?: "normal" | "full";
  },
): Promise<{ mongo: Dependency; postgres?: Dependency }> {
  ensureLocalBinaries(options.log);
  const { dataDir, backend } = options;
  const mongoOptions = {
    backend,
    ...(options.debugAddr ? { debugAddr: options.debugAddr } : {}),
    ...(options.sqliteSynchronous ? { sqliteSynchronous: options.sqliteSynchronous } : {}),
  };
  if (backend === "sqlite") return { mongo: await startMongoBinary(dataDir, options.ports?.mongo, mongoOptions) };
  const postgres = await startPostgresBinary(dataDir, options.persistent ?? false, undefined, options.postgresSettings);
  options.log?.(`stack: postgres via ${postgres.via}: ${postgres.description} at ${postgres.url}`);
  try {
    const mongo = await startMongoBinary(dataDir, options.ports?.mongo, { ...mongoOptions, postgresUrl: postgres.url });
    return { mongo, postgres };
  } catch (err) {
    await postgres.stop();
    throw err;
  }
}

/** Starts (or finds) one dependency; FerretDB on postgresql comes with its PostgreSQL server (`onPostgres`). */
export async function startDependency(
  name: DependencyName,
  options: StartOptions & { dataDir: string; onPostgres?: (postgres: Dependency) => void },
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
    if (name === "mongo" && (options.dbBackend ?? dbBackend()) !== DEFAULT_DB_BACKEND) {
      options.log?.(`stack: TRELLIS_DB_BACKEND applies to local binaries; mongo is the container's server`);
    }
  } else if (name === "mongo") {
    const started = await startFerretBinaries({ ...options, backend: options.dbBackend ?? dbBackend() });
    if (started.postgres) options.onPostgres?.(started.postgres);
    dep = started.mongo;
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
  let postgres: Dependency | undefined;
  const stopAll = async () => {
    // FerretDB before PostgreSQL, so that it does not see its server go away while it is serving.
    await Promise.allSettled(started.map((d) => d.stop()));
    await postgres?.stop();
    release();
  };
  try {
    const opts = {
      ...options,
      dataDir,
      onPostgres: (p: Dependency) => {
        postgres = p;
      },
    };
    const [mongo, nats, redis] = await Promise.all(
      (["mongo", "nats", "redis"] as const).map(async (n) => {
        const d = await startDependency(n, opts);
        started.push(d);
        return d;
      }),
    );
    return {
      mongo: mongo as Dependency,
      nats: nats as Dependency,
      redis: redis as Dependency,
      ...(postgres ? { postgres } : {}),
      dataDir,
      stop: stopAll,
    };
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
