import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type Catalog,
  type DependencyStatus,
  type HealthReply,
  queueGroup,
  type ServiceName,
} from "@trellis/contracts";
import type { Logger } from "pino";
import type { z } from "zod";
import { type BaseConfig, ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { type MetricsServer, startMetricsServer } from "./metrics.ts";
import { connectNats } from "./nats.ts";
import { type Handlers, type Server, serve } from "./serve.ts";
import { Shutdown } from "./shutdown.ts";

/** A named probe of something the service depends on; throws when it is unhealthy. */
export type HealthCheck = () => Promise<void>;

export interface ServiceContext<Config> {
  readonly config: Config;
  readonly log: Logger;
  readonly nc: NatsConnection;
  readonly shutdown: Shutdown;
  readonly instance: string;
}

export interface ServiceParts<C extends Catalog> {
  /** Handlers for the catalog; `health` is provided by `runService`. */
  handlers: Omit<Handlers<C>, "health">;
  /** Dependencies probed by the health endpoint, e.g. `{ mongo: () => mongo.ping() }`. */
  checks?: Record<string, HealthCheck>;
}

export interface ServiceDefinition<C extends Catalog & { health: unknown }, S extends z.ZodObject> {
  name: ServiceName;
  version: string;
  catalog: C;
  /** Must extend `baseConfigSchema`. */
  config: S;
  /** Opens what the service owns (registering closers on `ctx.shutdown`) and returns its handlers. */
  start(ctx: ServiceContext<z.output<S>>): Promise<ServiceParts<C>>;
}

export interface RunningService {
  readonly instance: string;
  readonly server: Server;
  readonly shutdown: Shutdown;
}

const CHECK_TIMEOUT_MS = 1_000;

async function probe(check: HealthCheck): Promise<DependencyStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The composition every service shares: config (exit 78 with a message naming each bad variable)
 * → logger → signal handling → NATS → the service's own connections and handlers → serving its
 * catalog in its queue group, with a health endpoint that probes the service's dependencies.
 */
export async function runService<C extends Catalog & { health: unknown }, S extends z.ZodObject>(
  def: ServiceDefinition<C, S>,
): Promise<RunningService> {
  let config: z.output<S> & BaseConfig;
  try {
    config = loadConfig(def.config) as z.output<S> & BaseConfig;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${def.name}: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }

  const instance = config.INSTANCE_ID ?? `${def.name}-${hostname()}-${process.pid}`;
  const tracing = config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined;
  const log = createLogger({ service: def.name, instance, level: config.LOG_LEVEL, traceIds: tracing });
  const shutdown = new Shutdown(log, config.SHUTDOWN_TIMEOUT_MS);
  shutdown.listen(() => log.flush());
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));

  let metrics: MetricsServer | undefined;
  try {
    if (tracing) {
      // Imported only here: a process that does not trace never loads the SDK. Registered first,
      // so it stops last: the spans of the final drained requests are still sent.
      const { startTracing } = await import("./tracing-sdk.ts");
      const running = startTracing({ service: def.name, instance, version: def.version, config, log });
      shutdown.add("tracing", () => running.shutdown());
      log.info({ url: running.url, sampler: config.OTEL_TRACES_SAMPLER }, "tracing on");
    }
    if (config.METRICS_PORT !== undefined) {
      // Registered first, so it closes last: the final scrape still sees the shutdown.
      metrics = await startMetricsServer({
        port: config.METRICS_PORT,
        host: config.METRICS_HOST,
        service: def.name,
        log,
      });
      const server = metrics;
      shutdown.add("metrics server", () => server.close());
      log.info({ url: metrics.url, port: metrics.port }, "metrics listening");
    }
    const nc = await connectNats({
      servers: config.NATS_URL,
      name: instance,
      user: config.NATS_USER,
      pass: config.NATS_PASSWORD,
      log,
    });
    shutdown.add("nats connection", () => nc.drain());

    const parts = await def.start({ config, log, nc, shutdown, instance });
    const checks: Record<string, HealthCheck> = { nats: async () => void (await nc.flush()), ...parts.checks };
    const startedAt = Date.now();

    const health = async (): Promise<HealthReply> => {
      const names = Object.keys(checks);
      const results = await Promise.all(names.map((n) => probe(checks[n] as HealthCheck)));
      const dependencies = Object.fromEntries(names.map((n, i) => [n, results[i] as DependencyStatus]));
      return {
        service: def.name,
        instance,
        version: def.version,
        status: results.every((r) => r.ok) ? "ok" : "degraded",
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        dependencies,
      };
    };

    const handlers = { ...parts.handlers, health } as unknown as Handlers<C>;
    const server = serve(nc, def.catalog, handlers, { queue: queueGroup(def.name), log });
    shutdown.add("request handlers", () => server.stop());
    await nc.flush();
    // Not ready once shutdown begins: the orchestrator stops sending traffic while handlers finish.
    metrics?.setReadiness(async () => {
      if (shutdown.started) return { ready: false, body: { status: "stopping" } };
      const reply = await health();
      return { ready: reply.status === "ok", body: reply };
    });
    log.info({ subjects: Object.values(def.catalog).map((e) => (e as { subject: string }).subject) }, "service ready");
    return { instance, server, shutdown };
  } catch (err) {
    log.fatal({ err }, "start-up failed");
    await shutdown.run("start-up failed");
    log.flush();
    process.exit(1);
  }
}
