/**
 * Trace context across NATS, done once here: the helpers `request`, `serve`, `consume`, the event
 * publisher and byte streams use to start spans and to carry W3C `traceparent` / `tracestate` in
 * NATS headers (there is no official NATS instrumentation for JS), and in job payloads.
 *
 * Off unless the SDK was started (`startTracing` in `tracing-sdk.ts`, by `runService` when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set): every helper first checks one module variable and then does
 * what the code would do without tracing, so a process that does not trace pays a branch per
 * call (measured in `npm run bench:tracing`). Only `@opentelemetry/api` is loaded here; the SDK
 * is imported only when tracing is on.
 */
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { isCallerFault, isTrellisError, type TraceCarrier, TraceHeaders } from "@trellis/contracts";

export { SpanKind, SpanStatusCode } from "@opentelemetry/api";

let tracer: Tracer | undefined;

/** Whether this process traces (the SDK was started). */
export const tracingEnabled = (): boolean => tracer !== undefined;

/** Set by the SDK when it starts, cleared when it stops: what turns every helper here on. */
export function useTracer(t: Tracer | undefined): void {
  tracer = t;
}

const natsGetter: TextMapGetter<MsgHdrs> = {
  get: (h, key) => h.get(key) || undefined,
  keys: (h) => h.keys(),
};
const natsSetter: TextMapSetter<MsgHdrs> = { set: (h, key, value) => h.set(key, value) };

/** Adds the active span's context (`traceparent`, `tracestate`) to outgoing NATS headers. */
export function injectTrace(h: MsgHdrs): void {
  if (tracer) propagation.inject(context.active(), h, natsSetter);
}

/** Headers with only the active trace context, for a publish that has none of its own; undefined when off. */
export function traceHeaders(): MsgHdrs | undefined {
  if (!tracer || !trace.getActiveSpan()) return undefined;
  const h = natsHeaders();
  propagation.inject(context.active(), h, natsSetter);
  return h;
}

/** The trace context a message carries (a new trace when it carries none). */
export function contextFromHeaders(h: MsgHdrs | undefined): Context {
  return tracer && h ? propagation.extract(ROOT_CONTEXT, h, natsGetter) : ROOT_CONTEXT;
}

/**
 * Links to the spans that sent these messages (those that carry a trace context), at most
 * `max`: a batch's span (an ingest round) is the child of none of them, but leads to each.
 */
export function linksFromHeaders(all: Iterable<MsgHdrs | undefined>, max = 128): Link[] {
  const links: Link[] = [];
  if (!tracer) return links;
  for (const h of all) {
    if (links.length >= max) break;
    if (!h?.has(TraceHeaders.traceparent)) continue;
    const linked = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, h, natsGetter));
    if (linked) links.push({ context: linked });
  }
  return links;
}

/** The active trace context as a payload field (a job's data); undefined when off or outside a span. */
export function traceCarrier(): TraceCarrier | undefined {
  if (!tracer) return undefined;
  const carrier: { traceparent?: string; tracestate?: string } = {};
  propagation.inject(context.active(), carrier);
  if (!carrier.traceparent) return undefined;
  return carrier.tracestate
    ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate }
    : { traceparent: carrier.traceparent };
}

/** The trace context of a payload field written by `traceCarrier`. */
export function contextFromCarrier(carrier: TraceCarrier | undefined): Context {
  return tracer && carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** `trace_id` and `span_id` of the active span, for log lines (pino's mixin); empty outside a span. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** Adds attributes to the active span (the gateway's request id on the HTTP span). */
export function annotateActiveSpan(attributes: Attributes): void {
  if (tracer) trace.getActiveSpan()?.setAttributes(attributes);
}

/**
 * Records a failure on a span: the `TrellisError` code as `trellis.error.code`, and an error status
 * unless a server (or consumer) span refused a caller's mistake (as HTTP server spans treat 4xx).
 */
export function failSpan(span: Span, err: unknown, kind: SpanKind): void {
  const code = isTrellisError(err) ? err.code : "internal";
  span.setAttribute("trellis.error.code", code);
  const served = kind === SpanKind.SERVER || kind === SpanKind.CONSUMER;
  if (served && isCallerFault(code)) return;
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

export interface SpanSpec {
  kind: SpanKind;
  attributes?: Attributes;
  /** The parent (an extracted context); default the active one. */
  parent?: Context;
  /** Start a new trace whatever is active (work of its own, such as a batch of messages). */
  root?: boolean;
  /** Only inside a trace: no span (and no new trace) when the parent has none. */
  requireParent?: boolean;
  /** Spans this one relates to without being their child (the messages a batch handles). */
  links?: Link[];
}

const parentOf = (spec: SpanSpec): Context => spec.parent ?? (spec.root ? ROOT_CONTEXT : context.active());

const startOptions = (spec: SpanSpec) => ({
  kind: spec.kind,
  ...(spec.attributes ? { attributes: spec.attributes } : {}),
  ...(spec.links?.length ? { links: spec.links } : {}),
});

/**
 * Runs `fn` in a new span, active while it runs (so spans started inside are its children); the
 * span ends when `fn` settles, failed when it throws. Tracing off: `fn()` and nothing else.
 */
export function inSpan<T>(name: string, spec: SpanSpec, fn: () => Promise<T>): Promise<T> {
  if (!tracer) return fn();
  const parent = parentOf(spec);
  const span = tracer.startSpan(name, startOptions(spec), parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn();
    } catch (err) {
      failSpan(span, err, spec.kind);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A span whose end is not the end of a call (a byte stream read later): end it once, with the failure if any. */
export interface OpenSpan {
  /** The context with this span active: run the work that belongs to it in `context.with`. */
  readonly context: Context;
  /** For what is known only at the end (an HTTP route, a status). */
  readonly span: Span;
  end(err?: unknown): void;
}

/** Starts a span that the caller ends; undefined when tracing is off (or `requireParent` and no trace). */
export function openSpan(name: string, spec: SpanSpec): OpenSpan | undefined {
  if (!tracer) return undefined;
  const parent = parentOf(spec);
  if (spec.requireParent && !trace.getSpan(parent)) return undefined;
  const span = tracer.startSpan(name, startOptions(spec), parent);
  let ended = false;
  return {
    context: trace.setSpan(parent, span),
    span,
    end(err) {
      if (ended) return;
      ended = true;
      if (err !== undefined) failSpan(span, err, spec.kind);
      span.end();
    },
  };
}

/**
 * A server span for an incoming HTTP request, continuing the caller's trace when its headers
 * carry one (`traceparent`), else a new one; undefined when tracing is off.
 */
export function openHttpServerSpan(
  method: string,
  path: string,
  headers: Record<string, string | string[] | undefined>,
): OpenSpan | undefined {
  if (!tracer) return undefined;
  return openSpan(method, {
    kind: SpanKind.SERVER,
    parent: propagation.extract(ROOT_CONTEXT, headers),
    attributes: { "http.request.method": method, "url.path": path },
  });
}

/** Runs `fn` with `open`'s span active (or just runs it when there is none). */
export function withOpenSpan<T>(open: OpenSpan | undefined, fn: () => T): T {
  return open ? context.with(open.context, fn) : fn();
}

/** Attributes of a NATS span (OpenTelemetry messaging conventions). */
export function natsAttributes(subject: string, operation: string, requestId?: string): Attributes {
  return {
    "messaging.system": "nats",
    "messaging.destination.name": subject,
    "messaging.operation.type": operation,
    ...(requestId ? { "trellis.request_id": requestId } : {}),
  };
}

/**
 * A MongoDB command as `db.query.text`: its shape (field names; values as "?", arrays as their
 * length), at most three levels deep. Never a value (user data), and bounded work: the default
 * serializer walks the whole command with a replacer (every statement of a 5,000-reading round's
 * bulk writes, every byte of the session id's buffer).
 */
export function commandShape(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) return `[${value.length}]`;
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value) || value instanceof Date) return "?";
  if ("_bsontype" in value) return "?";
  if (depth >= 3) return "{…}";
  const out: Record<string, unknown> = {};
  let fields = 0;
  for (const key of Object.keys(value)) {
    if (++fields > 20) {
      out["…"] = "…";
      break;
    }
    out[key] = commandShape((value as Record<string, unknown>)[key], depth + 1);
  }
  return out;
}
