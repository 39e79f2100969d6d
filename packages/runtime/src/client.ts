import { errors, type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import {
  type Endpoint,
  ErrorBody,
  Headers,
  invalidArgument,
  isTrellisError,
  type MetaOf,
  type ReplyOf,
  type RequestOf,
  type StreamEndpoint,
  serviceOfSubject,
  TrellisError,
  type UploadEndpoint,
} from "@trellis/contracts";
import { type ByteSource, type IncomingStream, receiveStream, sendUpload } from "./byte-stream.ts";
import { assertFitsMaxPayload } from "./max-payload.ts";
import { type CounterSeries, type HistogramSeries, natsMetrics, secondsSince } from "./metrics.ts";
import { natsReconnects } from "./nats.ts";
import { decodeJson, encodeJson } from "./serve.ts";
import {
  injectTrace,
  natsAttributes,
  type OpenSpan,
  openSpan,
  SpanKind,
  tracingEnabled,
  withOpenSpan,
} from "./tracing.ts";

export interface CallOptions {
  /** Propagated as the `Trellis-Request-Id` header. */
  requestId?: string | undefined;
  timeoutMs?: number | undefined;
  /**
   * The call has no effect to repeat (a read): when it times out and the connection reconnected
   * while it waited (a NATS node killed with the request in flight), it is sent once more on the
   * new connection instead of failing with `deadline_exceeded` for what a retry answers at once.
   */
  idempotent?: boolean | undefined;
}

const DEFAULT_TIMEOUT_MS = 5_000;

function isCausedBy(err: unknown, type: new (...args: never[]) => Error): boolean {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof type) return true;
    e = (e as Error).cause;
  }
  return false;
}

/**
 * Calls an endpoint: the payload is checked against the request schema before it leaves, the reply
 * against the reply schema when it comes back, and error replies become `TrellisError`s again.
 * No responder → `unavailable` (at once, thanks to NATS no-responders); timeout → `deadline_exceeded`.
 */
export async function request<E extends Endpoint>(
  nc: NatsConnection,
  endpoint: E,
  payload: RequestOf<E>,
  options: CallOptions = {},
): Promise<ReplyOf<E>> {
  const started = performance.now();
  let code = "ok";
  // A client span, the parent of the service's: `call` puts its context in the headers.
  const span = tracingEnabled() ? clientSpan(endpoint.subject, options.requestId) : undefined;
  try {
    const reply = await withOpenSpan(span, () =>
      onceMoreAfterReconnect(nc, options, () => call(nc, endpoint, payload, options)),
    );
    span?.end();
    return reply;
  } catch (err) {
    code = isTrellisError(err) ? err.code : "internal";
    span?.end(err);
    throw err;
  } finally {
    const m = clientSeriesOf(endpoint.subject);
    if (code === "ok") m.ok.inc();
    else natsMetrics.called.inc({ subject: endpoint.subject, code });
    m.seconds.observe(secondsSince(started));
  }
}

/**
 * Only inside a trace: calls made outside any (a readiness probe's health checks, start-up and
 * background syncs) would each start a trace of their own and drown the ones that matter.
 */
const clientSpan = (subject: string, requestId: string | undefined): OpenSpan | undefined =>
  openSpan(subject, {
    kind: SpanKind.CLIENT,
    requireParent: true,
    attributes: natsAttributes(subject, "send", requestId),
  });

const clientSeries = new Map<string, { ok: CounterSeries; seconds: HistogramSeries }>();
function clientSeriesOf(subject: string) {
  let m = clientSeries.get(subject);
  if (!m) {
    m = { ok: natsMetrics.called.with({ subject, code: "ok" }), seconds: natsMetrics.calledSeconds.with({ subject }) };
    clientSeries.set(subject, m);
  }
  return m;
}

/**
 * `send()`, and for an idempotent call, once more if it timed out across a reconnect: what was in
 * flight when the connection dropped (a NATS node killed) is lost without an answer.
 */
async function onceMoreAfterReconnect<T>(nc: NatsConnection, options: CallOptions, send: () => Promise<T>): Promise<T> {
  const before = natsReconnects(nc);
  try {
    return await send();
  } catch (err) {
    const lostWithConnection = isTrellisError(err) && err.code === "deadline_exceeded" && natsReconnects(nc) !== before;
    if (!options.idempotent || !lostWithConnection) throw err;
    return send();
  }
}

async function call<E extends Endpoint>(
  nc: NatsConnection,
  endpoint: E,
  payload: RequestOf<E>,
  options: CallOptions,
): Promise<ReplyOf<E>> {
  const checked = endpoint.request.safeParse(payload);
  if (!checked.success) throw invalidArgument(checked.error);
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const h = natsHeaders();
  if (options.requestId) h.set(Headers.requestId, options.requestId);
  h.set(Headers.timeoutMs, String(timeout));
  injectTrace(h);
  const service = serviceOfSubject(endpoint.subject);
  const data = encodeJson(payload);
  // Too large for one message: a MaxPayloadExceededError the caller can tell apart (a 413, not a 500).
  assertFitsMaxPayload(nc.info?.max_payload, data, h);

  let msg: Msg;
  try {
    msg = await nc.request(endpoint.subject, data, { timeout, headers: h });
  } catch (err) {
    if (isCausedBy(err, errors.NoRespondersError)) {
      throw new TrellisError("unavailable", `${service} is unavailable`, {
        details: { service, retryAfterSeconds: 1 },
        cause: err,
      });
    }
    if (isCausedBy(err, errors.TimeoutError)) {
      throw new TrellisError("deadline_exceeded", `${service} did not answer in time`, {
        details: { service },
        cause: err,
      });
    }
    if (isCausedBy(err, errors.ClosedConnectionError) || isCausedBy(err, errors.DrainingConnectionError)) {
      throw new TrellisError("unavailable", "messaging connection is closed", { details: { service }, cause: err });
    }
    throw err;
  }

  if (msg.headers?.get(Headers.errorCode)) {
    const body = ErrorBody.safeParse(decodeJson(msg.data));
    throw body.success
      ? TrellisError.fromBody(body.data)
      : new TrellisError("internal", `${service} sent a malformed error reply`);
  }
  const reply = endpoint.reply.safeParse(decodeJson(msg.data));
  if (!reply.success) throw new TrellisError("internal", `${service} sent a reply that violates its contract`);
  return reply.data as ReplyOf<E>;
}

/**
 * Calls a stream endpoint: the request is checked against its schema, the start message's metadata
 * against `meta`; the bytes arrive as chunks paced by the consumer (see `byte-stream.ts`). Errors
 * before the start (a refusal, no responder, timeout) reject here, as with `request`; errors after
 * it fail the chunk iteration.
 */
export async function requestStream<E extends StreamEndpoint>(
  nc: NatsConnection,
  endpoint: E,
  payload: RequestOf<E>,
  options: CallOptions & { window?: number } = {},
): Promise<IncomingStream<MetaOf<E>>> {
  const checked = endpoint.request.safeParse(payload);
  if (!checked.success) throw invalidArgument(checked.error);
  // The client span lasts until the last chunk is read (or the stream fails or is cancelled).
  const span = tracingEnabled() ? clientSpan(endpoint.subject, options.requestId) : undefined;
  let opened: Awaited<ReturnType<typeof receiveStream>>;
  try {
    // Only the start is asked again: once chunks flow, a lost stream fails its iteration.
    opened = await withOpenSpan(span, () =>
      onceMoreAfterReconnect(nc, options, () =>
        receiveStream(nc, endpoint.subject, encodeJson(payload), {
          timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          requestId: options.requestId,
          ...(options.window ? { window: options.window } : {}),
        }),
      ),
    );
  } catch (err) {
    span?.end(err);
    throw err;
  }
  const { meta, stream } = opened;
  const parsed = endpoint.meta.safeParse(meta);
  if (!parsed.success) {
    stream.cancel("metadata violates the contract");
    const err = new TrellisError(
      "internal",
      `${serviceOfSubject(endpoint.subject)} sent stream metadata that violates its contract`,
    );
    span?.end(err);
    throw err;
  }
  if (!span) return { meta: parsed.data as MetaOf<E>, ...stream };
  return {
    meta: parsed.data as MetaOf<E>,
    chunks: endingSpan(stream.chunks, span),
    cancel(reason) {
      stream.cancel(reason);
      span.end();
    },
  };
}

/** The same chunks; the span ends with the iteration, failed if it fails. */
async function* endingSpan(chunks: AsyncIterable<Uint8Array>, span: OpenSpan): AsyncGenerator<Uint8Array> {
  try {
    yield* chunks;
  } catch (err) {
    span.end(err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Calls an upload endpoint: the request is checked against its schema, then `source`'s bytes go
 * to the service at the pace its handler reads them (see `byte-stream.ts`), and the reply is
 * checked against the reply schema. A failing source aborts the upload (the handler's bytes fail
 * with `cancelled`) and rejects with the source's error.
 */
export async function requestUpload<E extends UploadEndpoint>(
  nc: NatsConnection,
  endpoint: E,
  payload: RequestOf<E>,
  source: ByteSource,
  options: CallOptions & { window?: number; chunkBytes?: number } = {},
): Promise<ReplyOf<E>> {
  const checked = endpoint.request.safeParse(payload);
  if (!checked.success) throw invalidArgument(checked.error);
  const span = tracingEnabled() ? clientSpan(endpoint.subject, options.requestId) : undefined;
  try {
    const result = await withOpenSpan(span, () =>
      sendUpload(nc, endpoint.subject, encodeJson(payload), source, {
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        requestId: options.requestId,
        ...(options.window ? { window: options.window } : {}),
        ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}),
      }),
    );
    const reply = endpoint.reply.safeParse(result);
    if (!reply.success) {
      throw new TrellisError(
        "internal",
        `${serviceOfSubject(endpoint.subject)} sent a reply that violates its contract`,
      );
    }
    span?.end();
    return reply.data as ReplyOf<E>;
  } catch (err) {
    span?.end(err);
    throw err;
  }
}
