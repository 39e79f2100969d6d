import { z } from "zod";

/** Thrown when the environment does not satisfy a service's config schema. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

/**
 * Parses `env` once against a schema of environment variables. Every problem is reported with the
 * variable's name, e.g. `NATS_URL: Invalid URL (got "nats//x")`. Secrets are never echoed back:
 * variables whose name looks secret show only that they were set.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "(env)");
    const raw = env[name];
    const shown =
      raw === undefined ? "not set" : /SECRET|PASSWORD|TOKEN|KEY/i.test(name) ? "set" : `got ${JSON.stringify(raw)}`;
    return `${name}: ${issue.message} (${shown})`;
  });
  throw new ConfigError(problems);
}

/** Common coercions for environment variables. */
export const env = {
  url: (protocols: readonly string[]) =>
    z.string().refine(
      (v) => {
        try {
          return v.split(",").every((part) => protocols.includes(new URL(part.trim()).protocol.replace(/:$/, "")));
        } catch {
          return false;
        }
      },
      { message: `must be a ${protocols.join(" or ")} URL` },
    ),
  int: (min: number, max: number) => z.coerce.number().int().min(min).max(max),
  bool: () =>
    z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes"),
  /** One of fixed choices (e.g. a storage layout). */
  oneOf: <const T extends readonly [string, ...string[]]>(choices: T) => z.enum(choices),
  logLevel: () => z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
};

/**
 * OpenTelemetry tracing, by the standard OTEL_* names (a collector's documentation applies as is).
 * Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set; unset or empty, no SDK is loaded and the
 * runtime's propagation helpers do nothing. The exporter itself also reads
 * OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT / _COMPRESSION; OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES override or add resource attributes.
 */
export const tracingConfigSchema = z.object({
  /** The collector's OTLP/HTTP base URL, e.g. `http://otel-collector:4318` (spans go to `<it>/v1/traces`); unset or empty: tracing off (docs/tracing.md). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess((v) => (v === "" ? undefined : v), env.url(["http", "https"]).optional()),
  /** Full URL for traces only, when it is not `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.preprocess(
    (v) => (v === "" ? undefined : v),
    env.url(["http", "https"]).optional(),
  ),
  /** How spans are encoded over HTTP; `grpc` is not offered (a second HTTP/2 stack for what OTLP/HTTP does as well). */
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .enum(["http/protobuf", "http/json"], { message: "must be http/protobuf or http/json (grpc is not supported)" })
    .default("http/protobuf"),
  /** Which traces are kept: parent-based samplers follow the caller's decision (`traceparent` flags), so a kept trace is whole. */
  OTEL_TRACES_SAMPLER: z
    .enum([
      "always_on",
      "always_off",
      "traceidratio",
      "parentbased_always_on",
      "parentbased_always_off",
      "parentbased_traceidratio",
    ])
    .default("parentbased_always_on"),
  /** The ratio of the `*traceidratio` samplers, 0-1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  /** How often finished spans are sent, in ms (they are batched in between). */
  OTEL_BSP_SCHEDULE_DELAY: env.int(10, 60_000).default(5_000),
});
export type TracingConfig = z.output<typeof tracingConfigSchema>;

/** Variables every service reads. */
export const baseConfigSchema = z.object({
  ...tracingConfigSchema.shape,
  /** The NATS server (`nats`, `tls`, `ws` or `wss` URL), or a cluster's URLs comma-separated. */
  NATS_URL: env.url(["nats", "tls", "ws", "wss"]).default("nats://127.0.0.1:4222"),
  /** The services' NATS login (`npm start` and the compose file set it; devices log in as themselves). */
  NATS_USER: z.string().min(1).optional(),
  /** Password of NATS_USER. */
  NATS_PASSWORD: z.string().min(1).optional(),
  /** pino's level for the JSON logs on stdout. */
  LOG_LEVEL: env.logLevel().default("info"),
  /** Upper bound for a graceful shutdown; after it the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: env.int(100, 120_000).default(10_000),
  /**
   * Replicas of every JetStream stream the service creates or updates: 1 on a single server
   * (`npm start`), 3 on the three-node cluster (`npm run start:cluster`). Raising it on an
   * existing stream scales it up (on a cluster with enough nodes).
   */
  JETSTREAM_REPLICAS: env.int(1, 5).default(1),
  /** Names this process in health replies and logs; defaults to host + pid. */
  INSTANCE_ID: z.string().min(1).max(200).optional(),
  /**
   * Port of the Prometheus endpoint (`GET /metrics`), apart from any public port; unset = no
   * endpoint, 0 = any free port (logged). Each instance needs its own (one scrape target each).
   */
  METRICS_PORT: env.int(0, 65_535).optional(),
  /** Address the metrics endpoint listens on (`0.0.0.0` in a container, so Prometheus reaches it). */
  METRICS_HOST: z.string().min(1).default("127.0.0.1"),
});
export type BaseConfig = z.output<typeof baseConfigSchema>;

/** Variables of a service that owns a MongoDB database. */
export const mongoConfigSchema = z.object({
  /** The MongoDB-protocol server (MongoDB 7, or FerretDB in `npm start` and the tests). */
  MONGO_URL: env.url(["mongodb", "mongodb+srv"]).default("mongodb://127.0.0.1:27017"),
  /** The service's own database: each service owns one (`trellis_<service>`), never shared. */
  MONGO_DB: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, "must be 1-63 letters, digits, '_' or '-'")
    .optional(),
});
