import { randomUUID } from "node:crypto";
import {
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import {
  type AnyEndpoint,
  type Catalog,
  type Endpoint,
  ErrorBody,
  Headers,
  invalidArgument,
  isStreamEndpoint,
  isTrellisError,
  isUploadEndpoint,
  type MetaInputOf,
  type ParsedRequestOf,
  type ReplyInputOf,
  type StreamEndpoint,
  TrellisError,
  type UploadEndpoint,
} from "@trellis/contracts";
import type { Logger } from "pino";
import { receiveUpload, type SendStreamOptions, sendStream } from "./byte-stream.ts";
import { type CounterSeries, type HistogramSeries, natsMetrics, secondsSince } from "./metrics.ts";
import { contextFromHeaders, natsAttributes, openSpan, SpanKind, tracingEnabled, withOpenSpan } from "./tracing.ts";

export interface HandlerContext {
  /** From the caller's `Trellis-Request-Id` header, or generated here. */
  readonly requestId: string;
  /** Child logger carrying `reqId`, so every line of this request can be found. */
  readonly log: Logger;
  readonly headers: MsgHdrs | undefined;
  /**
   * When the caller stops waiting (ms since the epoch, from its `Trellis-Timeout-Ms` and this
   * process's clock). A handler that waits for something answers before this with its own error.
   */
  readonly deadline: number;
}

/** What a stream endpoint's handler returns: the metadata, then the bytes (read as the receiver asks). */
export interface StreamReply<M> {
  meta: M;
  body: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
}

/** An upload endpoint's handler also gets the bytes, read at its own pace (the caller sends as it reads). */
export interface UploadContext extends HandlerContext {
  readonly upload: AsyncIterable<Uint8Array>;
}

export type Handler<E extends AnyEndpoint> = E extends StreamEndpoint
  ? (request: ParsedRequestOf<E>, ctx: HandlerContext) => Promise<StreamReply<MetaInputOf<E>>>
  : E extends UploadEndpoint
    ? (request: ParsedRequestOf<E>, ctx: UploadContext) => Promise<ReplyInputOf<E>>
    : E extends Endpoint
      ? (request: ParsedRequestOf<E>, ctx: HandlerContext) => Promise<ReplyInputOf<E>> | ReplyInputOf<E>
      : never;

export type Handlers<C extends Catalog> = { [K in keyof C]: Handler<C[K]> };

type AnyHandler = (request: unknown, ctx: HandlerContext) => Promise<unknown> | unknown;

export interface ServeOptions {
  /** Queue group shared by all instances of the service. */
  queue: string;
  log: Logger;
  /** For the byte streams of stream endpoints (tests shorten `idleTimeoutMs`). */
  stream?: SendStreamOptions;
}

export interface Server {
  /** Requests being handled right now. */
  readonly inFlight: number;
  /** Stops taking requests, lets queued ones through, and resolves when every handler has finished. Idempotent. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeJson = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

/** Decodes a JSON payload; an empty payload is `{}` (NATS requests often carry none). */
export function decodeJson(data: Uint8Array): unknown {
  if (data.length === 0) return {};
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    throw new TrellisError("invalid_argument", "payload is not valid JSON");
  }
}

/** The health endpoint (`runService` adds it): probed every few seconds, never traced. */
const HEALTH = "health";

/** Without a `Trellis-Timeout-Ms` header, the caller is assumed to wait as long as `request` does by default. */
const DEFAULT_CALLER_TIMEOUT_MS = 5_000;

export function deadlineOf(h: MsgHdrs | undefined, receivedAt = Date.now()): number {
  const ms = Number(h?.get(Headers.timeoutMs));
  return receivedAt + (Number.isFinite(ms) && ms > 0 ? Math.min(ms, 3_600_000) : DEFAULT_CALLER_TIMEOUT_MS);
}

export function requestIdOf(h: MsgHdrs | undefined): string {
  const id = h?.get(Headers.requestId);
  return id && id.length <= 200 ? id : randomUUID();
}

function respondError(msg: Msg, err: TrellisError): void {
  const h = natsHeaders();
  h.set(Headers.errorCode, err.code);
  msg.respond(encodeJson(ErrorBody.parse(err.toBody())), { headers: h });
}

/**
 * Serves a catalog of endpoints on NATS: decodes and validates each request through its schema,
 * calls the handler, validates and encodes the reply. Failures reply with a typed error (code in a
 * header, `ErrorBody` as payload) and never crash the process.
 */
export function serve<C extends Catalog>(
  nc: NatsConnection,
  catalog: C,
  handlers: Handlers<C>,
  options: ServeOptions,
): Server {
  const inFlight = new Set<Promise<unknown>>();
  const subs: Subscription[] = [];

  /** The bytes come after the request; the reply (or error) goes out once the handler is done with them. */
  const handleUpload = async (
    endpoint: UploadEndpoint,
    handler: AnyHandler,
    msg: Msg,
    request: unknown,
    ctx: HandlerContext,
  ): Promise<TrellisError | undefined> => {
    const upload = receiveUpload(nc, msg, options.stream ?? {});
    try {
      const uploadCtx: UploadContext = { ...ctx, upload: upload.chunks };
      const result = await handler(request, uploadCtx);
      const reply = endpoint.reply.safeParse(result);
      if (!reply.success) {
        ctx.log.error({ issues: reply.error.issues }, "handler reply violates its contract");
        throw new TrellisError("internal", "internal error");
      }
      upload.finish({ ok: reply.data });
      ctx.log.debug("upload handled");
      return undefined;
    } catch (err) {
      const error = isTrellisError(err) ? err : new TrellisError("internal", "internal error", { cause: err });
      if (error.code === "internal") ctx.log.error({ err }, "upload failed");
      else ctx.log.info({ code: error.code }, "upload refused");
      upload.finish({ error });
      return error;
    }
  };

  const series = new Map<string, { ok: CounterSeries; seconds: HistogramSeries }>();
  const metricsOf = (subject: string) => {
    let m = series.get(subject);
    if (!m) {
      m = {
        ok: natsMetrics.served.with({ subject, code: "ok" }),
        seconds: natsMetrics.servedSeconds.with({ subject }),
      };
      series.set(subject, m);
    }
    return m;
  };

  /** Handles one request and replies; never throws. Resolves with the error it replied with, if any. */
  const handle = async (
    endpoint: AnyEndpoint,
    handler: AnyHandler,
    msg: Msg,
    requestId = requestIdOf(msg.headers),
  ): Promise<TrellisError | undefined> => {
    const log = options.log.child({ reqId: requestId, subject: endpoint.subject });
    const started = performance.now();
    let failure: TrellisError | undefined;
    try {
      const parsed = endpoint.request.safeParse(decodeJson(msg.data));
      if (!parsed.success) throw invalidArgument(parsed.error);
      const ctx: HandlerContext = { requestId, log, headers: msg.headers, deadline: deadlineOf(msg.headers) };
      if (isStreamEndpoint(endpoint)) {
        const { meta, body } = (await handler(parsed.data, ctx)) as StreamReply<unknown>;
        const checked = endpoint.meta.safeParse(meta);
        if (!checked.success) {
          log.error({ issues: checked.error.issues }, "handler stream metadata violates its contract");
          throw new TrellisError("internal", "internal error");
        }
        const sent = await sendStream(nc, msg, checked.data, body, { ...options.stream, deadline: ctx.deadline });
        log.debug({ ms: Math.round(performance.now() - started), ...sent }, "stream sent");
        return undefined;
      }
      if (isUploadEndpoint(endpoint)) {
        failure = await handleUpload(endpoint, handler, msg, parsed.data, ctx);
        return failure;
      }
      const result = await handler(parsed.data, ctx);
      const reply = endpoint.reply.safeParse(result);
      if (!reply.success) {
        log.error({ issues: reply.error.issues }, "handler reply violates its contract");
        throw new TrellisError("internal", "internal error");
      }
      if (msg.reply) msg.respond(encodeJson(reply.data));
      log.debug({ ms: Math.round(performance.now() - started) }, "request handled");
      return undefined;
    } catch (err) {
      const error = isTrellisError(err) ? err : new TrellisError("internal", "internal error", { cause: err });
      if (error.code === "internal") log.error({ err }, "request failed");
      else log.info({ code: error.code, ms: Math.round(performance.now() - started) }, "request refused");
      if (msg.reply) respondError(msg, error);
      failure = error;
      return failure;
    } finally {
      const m = metricsOf(endpoint.subject);
      if (!failure) m.ok.inc();
      else natsMetrics.served.inc({ subject: endpoint.subject, code: failure.code });
      m.seconds.observe(secondsSince(started));
    }
  };

  /**
   * A server span around the handling, a child of the caller's span (its `traceparent` header):
   * the handler's own calls, queries and logs happen inside it. `handle` never throws; a failure
   * is recorded on the span by the code it replied with.
   */
  const traced = async (endpoint: AnyEndpoint, handler: AnyHandler, msg: Msg): Promise<void> => {
    const requestId = requestIdOf(msg.headers);
    const span = openSpan(endpoint.subject, {
      kind: SpanKind.SERVER,
      parent: contextFromHeaders(msg.headers),
      attributes: natsAttributes(endpoint.subject, "process", requestId),
    });
    span?.end(await withOpenSpan(span, () => handle(endpoint, handler, msg, requestId)));
  };

  for (const [name, endpoint] of Object.entries(catalog)) {
    const handler = handlers[name as keyof C] as unknown as AnyHandler;
    subs.push(
      nc.subscribe(endpoint.subject, {
        queue: options.queue,
        callback: (err, msg) => {
          if (err) {
            options.log.error({ err, subject: endpoint.subject }, "subscription error");
            return;
          }
          const p = (
            tracingEnabled() && name !== HEALTH ? traced(endpoint, handler, msg) : handle(endpoint, handler, msg)
          ).finally(() => inFlight.delete(p));
          inFlight.add(p);
        },
      }),
    );
  }

  let stopping: Promise<void> | undefined;
  return {
    get inFlight() {
      return inFlight.size;
    },
    stop() {
      stopping ??= (async () => {
        await Promise.allSettled(subs.map((s) => s.drain()));
        await Promise.allSettled([...inFlight]);
      })();
      return stopping;
    },
  };
}
