/**
 * The OpenTelemetry SDK, started by `runService` when OTEL_EXPORTER_OTLP_ENDPOINT is set and only
 * then imported (it is a few MB of modules a process that does not trace never loads). Built from
 * the SDK's pieces rather than `@opentelemetry/sdk-node`, which brings every exporter (gRPC,
 * Zipkin, Prometheus, logs, metrics) and its own instrumentation loading: here spans go by OTLP
 * over HTTP (protobuf or JSON) in batches, context follows async calls through
 * AsyncLocalStorage, and W3C Trace Context is the propagation format. The instrumentations of
 * MongoDB, ioredis and outgoing HTTP are registered earlier, by the `--import` preload
 * (`tracing-preload.ts`): they must patch those modules before the service imports them.
 */
import { context, DiagLogLevel, diag, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Logger } from "pino";
import type { TracingConfig } from "./config.ts";
import { useTracer } from "./tracing.ts";

/** Set by the preload once the instrumentations are in place (read here to warn when it is missing). */
export const INSTRUMENTED = Symbol.for("trellis.tracing.instrumented");

export interface TracingOptions {
  service: string;
  instance: string;
  version: string;
  config: TracingConfig;
  log: Logger;
  /** Replaces the OTLP exporter (tests: an in-memory one). */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** Where spans go. */
  readonly url: string;
  /** Sends the spans finished so far. */
  flush(): Promise<void>;
  /** Sends what is left and stops; the helpers are off again afterwards. Idempotent. */
  shutdown(): Promise<void>;
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG);
  switch (config.OTEL_TRACES_SAMPLER) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

export function tracesUrl(config: TracingConfig): string {
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  return `${(config.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://localhost:4318").replace(/\/+$/, "")}/v1/traces`;
}

/** Starts the SDK for this process and turns the runtime's tracing helpers on. */
export function startTracing(options: TracingOptions): Tracing {
  const { config, log } = options;
  // The SDK's own complaints (an unreachable collector, dropped spans) as warnings in our logs.
  const otelLog = log.child({ component: "opentelemetry" });
  diag.setLogger(
    {
      error: (msg, ...args) => otelLog.warn({ args }, msg),
      warn: (msg, ...args) => otelLog.warn({ args }, msg),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const url = tracesUrl(config);
  const exporter =
    options.exporter ??
    (config.OTEL_EXPORTER_OTLP_PROTOCOL === "http/json"
      ? new OtlpJsonExporter({ url })
      : new OtlpProtoExporter({ url }));
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (envDetector) win over ours, as the spec says.
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.service,
    [ATTR_SERVICE_VERSION]: options.version,
    "service.namespace": "trellis",
    "service.instance.id": options.instance,
  }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    sampler: samplerOf(config),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  useTracer(provider.getTracer("@trellis/runtime", options.version));
  if (!(globalThis as Record<symbol, unknown>)[INSTRUMENTED]) {
    log.warn(
      "tracing without the preload (node --import ./packages/runtime/src/tracing-preload.ts): MongoDB, Redis " +
        "and outgoing HTTP spans are missing; HTTP server, NATS and job spans are recorded",
    );
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    flush: () => provider.forceFlush(),
    shutdown() {
      stopped ??= (async () => {
        useTracer(undefined);
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          propagation.disable();
          context.disable();
        }
      })();
      return stopped;
    },
  };
}
