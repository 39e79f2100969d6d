/**
 * The `--import` entry every service process starts with (`node --import <this> main.ts`: the
 * stack's launcher and test harness, the Dockerfile). With OTEL_EXPORTER_OTLP_ENDPOINT set it
 * registers the MongoDB, ioredis and (outgoing) HTTP instrumentations before the service's modules
 * load, which is the only moment they can patch them; without it, it loads nothing and returns.
 * The SDK itself starts later, in `runService`, once the configuration is validated.
 */
if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) await import("./tracing-instrumentations.ts");
