/**
 * Byte streams over NATS: one module for both directions and both ends, so senders and receivers
 * cannot drift apart. Bytes travel as numbered chunks under the server's `max_payload`, with
 * credit-based flow control: a sender sends no more chunks than the receiver granted, and the
 * receiver grants as its consumer takes them.
 *
 * Download (a reply that grows with the data: a large JSON document, a file):
 *
 *   caller ── request (reply: inbox, `Credit: N`) ────────────────► service
 *   caller ◄── start (`Control: <subject>`, metadata JSON) ────────── service
 *   caller ◄── chunk (`Seq: 0`) … chunk (`Seq: k`) ────────────────── service   (never more than granted)
 *   caller ── grant (`Credit: n`) to <Control> ───────────────────────► service   (as the consumer takes chunks)
 *   caller ◄── end (`End`) or an error reply (`Trellis-Error-Code`) ── service
 *   caller ── abort (`Abort: reason`) to <Control> ───────────────────► service   (the consumer went away)
 *
 * Upload (a request body of any size):
 *
 *   caller ── request (reply: inbox) ─────────────────────────────► service
 *   caller ◄── ready (`Control: <data subject>`, `Credit: N`) ─────── service   (or an error reply)
 *   caller ── chunk (`Seq: 0`) … end (`End`) to <data subject> ───────► service   (never more than granted)
 *   caller ◄── grant (`Credit: n`) ──────────────────────────────────── service   (as the handler takes chunks)
 *   caller ── abort (`Abort: reason`) to <data subject> ──────────────► service   (the source failed)
 *   caller ◄── result (`Result`, the reply JSON) or an error reply ── service   (after the handler)
 *   caller ── probe (request, every second) to <Probe subject> ───────► service   (answered until the result)
 *
 * So neither end buffers more than the window (credit × chunk size), a slow consumer slows the
 * producer down to its pace, a consumer that leaves stops the producer, and either end gives up
 * after `idleTimeoutMs` of silence from the other. An upload's caller also learns within about a
 * second when the service's process died (its probe subject has no responders any more), rather
 * than after `idleTimeoutMs` or the request timeout.
 */
import { createInbox, errors, type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { ErrorBody, Headers, StreamHeaders, serviceOfSubject, TrellisError } from "@trellis/contracts";
import { injectTrace } from "./tracing.ts";

/** Chunk payload size: well under every `max_payload` in use (1 MiB default, 8 MiB here). */
export const STREAM_CHUNK_BYTES = 256 * 1024;
/** Chunks a receiver lets be in flight: 2 MiB at the default chunk size. */
export const STREAM_WINDOW = 8;
/** How long either end waits for the other (a grant, a chunk) before it gives up. */
export const STREAM_IDLE_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

const abortError = (reason: string) => new TrellisError("cancelled", `the receiver stopped the stream: ${reason}`);

const chunkSizeFor = (nc: NatsConnection, wanted = STREAM_CHUNK_BYTES): number =>
  // Room for the headers under max_payload, but never below 1 KiB (a tiny or unknown max_payload
  // made this 0 or negative: rechunk then never finished a chunk).
  Math.min(wanted, Math.max(1024, (nc.info?.max_payload ?? 1024 * 1024) - 4096));

const headersWith = (name: string, value: string) => {
  const h = natsHeaders();
  h.set(name, value);
  return h;
};

const errorReply = (err: unknown): { data: Uint8Array; headers: ReturnType<typeof natsHeaders> } => {
  // A bug is reported as `internal`, as `serve` does.
  const error = err instanceof TrellisError ? err : new TrellisError("internal", "internal error", { cause: err });
  return {
    data: encoder.encode(JSON.stringify(ErrorBody.parse(error.toBody()))),
    headers: headersWith(Headers.errorCode, error.code),
  };
};

const decodeError = (msg: Msg): TrellisError => {
  try {
    const body = ErrorBody.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
    if (body.success) return TrellisError.fromBody(body.data);
  } catch {
    // fall through
  }
  return new TrellisError("internal", "malformed error reply in a stream");
};

/**
 * The sender's side of the window: `take()` resolves when the receiver has granted a chunk, and
 * rejects when the receiver aborts or grants nothing for `idleTimeoutMs`.
 */
class CreditGate {
  private credit: number;
  private waiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(initial: number) {
    this.credit = initial;
  }

  grant(n: number): void {
    this.credit += n;
    this.wake();
  }

  abort(reason: string): void {
    this.failure ??= abortError(reason);
    this.wake();
  }

  get aborted(): Error | undefined {
    return this.failure;
  }

  async take(idleTimeoutMs: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.credit === 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new TrellisError("deadline_exceeded", `the receiver granted nothing for ${idleTimeoutMs} ms`));
        }, idleTimeoutMs);
        this.waiter = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        };
      });
    }
    if (this.failure) throw this.failure;
    this.credit -= 1;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (!w) return;
    if (this.failure) w.reject(this.failure);
    else w.resolve();
  }
}

/** What a sender sends: strings (UTF-8) and byte arrays, produced lazily. */
export type ByteSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** Reads a whole stream into memory: for tests and small replies only. */
export async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** Groups a source of strings and byte arrays into chunks of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(source: ByteSource, size: number): AsyncGenerator<Uint8Array> {
  // A size below 1 would never fill a chunk: an endless loop, growing `parts` without bound.
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, not ${size}`);
  let parts: Uint8Array[] = [];
  let filled = 0;
  const flush = (): Uint8Array => {
    const out = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, filled);
    parts = [];
    filled = 0;
    return out;
  };
  for await (const piece of source) {
    let bytes = typeof piece === "string" ? encoder.encode(piece) : piece;
    while (bytes.length > 0) {
      const take = Math.min(size - filled, bytes.length);
      parts.push(take === bytes.length ? bytes : bytes.subarray(0, take));
      filled += take;
      bytes = bytes.subarray(take);
      if (filled === size) yield flush();
    }
  }
  if (filled > 0) yield flush();
}

export interface SendStreamOptions {
  chunkBytes?: number;
  idleTimeoutMs?: number;
  /**
   * When the receiver stops waiting for the start (ms since the epoch, e.g. the handler's
   * `deadline`). Past it nobody listens: the stream is not started.
   */
  deadline?: number | undefined;
}

/**
 * Sends a source's bytes to `target` as numbered chunks, each once the gate grants it, then the
 * end marker. Throws when the source fails, the receiver aborts or it grants nothing for
 * `idleTimeoutMs` (nothing more is sent then; the caller tells the receiver if it should).
 */
async function pump(
  nc: NatsConnection,
  target: string,
  source: ByteSource,
  gate: CreditGate,
  chunkBytes: number,
  idleTimeoutMs: number,
  progress: { chunks: number; bytes: number },
): Promise<void> {
  for await (const chunk of rechunk(source, chunkBytes)) {
    await gate.take(idleTimeoutMs);
    nc.publish(target, chunk, { headers: headersWith(StreamHeaders.seq, String(progress.chunks)) });
    progress.chunks += 1;
    progress.bytes += chunk.length;
  }
  nc.publish(target, EMPTY, { headers: headersWith(StreamHeaders.end, "1") });
}

/**
 * Messages of one subscription, waiting until the consumer asks for them; the sender's credit
 * bounds how many there can be. Once closed, nothing more: not the messages still buffered, and
 * no wait for ones that will never come.
 */
class Inbox {
  readonly subject: string;
  private readonly queue: Msg[] = [];
  private wake: (() => void) | undefined;
  private readonly sub;
  closed = false;
  /** The service on the other end, named in timeout errors (none when that is the caller). */
  private readonly service: string | undefined;

  constructor(nc: NatsConnection, service?: string) {
    const subject = createInbox();
    this.subject = subject;
    this.service = service;
    this.sub = nc.subscribe(subject, {
      callback: (_err, msg) => {
        this.queue.push(msg);
        this.wake?.();
      },
    });
  }

  /** The next message; throws `deadline_exceeded` (naming `what`) after `timeoutMs`, `cancelled` once closed. */
  async next(timeoutMs: number, what: string): Promise<Msg> {
    if (this.queue.length === 0 && !this.closed) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.wake = undefined;
    }
    if (this.closed) throw new TrellisError("cancelled", "the stream was cancelled");
    const msg = this.queue.shift();
    if (!msg) {
      throw new TrellisError("deadline_exceeded", `${what} within ${timeoutMs} ms`, {
        ...(this.service ? { details: { service: this.service } } : {}),
      });
    }
    return msg;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sub.unsubscribe();
    this.wake?.();
  }
}

/**
 * The chunks arriving in an inbox, in order, until the end marker; an error reply or a gap fails
 * the iteration. `grant(n)` is called as the consumer takes chunks (half a window at a time), so
 * the sender keeps pace with the consumer. `onUnfinished` runs when the consumer stops before the
 * end (it broke off, or the iteration failed): to stop the sender.
 */
async function* receiveChunks(
  inbox: Inbox,
  window: number,
  idleTimeoutMs: number,
  peer: string,
  grant: (n: number) => void,
  onUnfinished: (reason: string) => void,
): AsyncGenerator<Uint8Array> {
  let expected = 0;
  let taken = 0;
  let ended = false;
  try {
    for (;;) {
      const msg = await inbox.next(idleTimeoutMs, `${peer} stopped sending`);
      if (msg.headers?.get(Headers.errorCode)) {
        ended = true;
        throw decodeError(msg);
      }
      const abort = msg.headers?.get(StreamHeaders.abort);
      if (abort) {
        ended = true;
        throw new TrellisError("cancelled", `${peer} stopped the stream: ${abort}`);
      }
      if (msg.headers?.get(StreamHeaders.end)) {
        ended = true;
        return;
      }
      if (msg.headers?.get(StreamHeaders.seq) !== String(expected)) {
        throw new TrellisError("internal", `chunk ${expected} of a stream from ${peer} was lost`);
      }
      expected += 1;
      yield msg.data;
      taken += 1;
      if (taken >= Math.ceil(window / 2)) {
        grant(taken);
        taken = 0;
      }
    }
  } finally {
    if (ended) inbox.close();
    else onUnfinished("receiver stopped");
  }
}

/**
 * The download sender's end, started on a request that asked for a stream: answers with the
 * start message (`meta` as JSON and the control subject), then sends the source's bytes in chunks
 * as credit allows, then the end marker. A failure of the source after the start is sent as an
 * error reply (the receiver fails the stream); an abort or a silent receiver stops the source
 * (`return()`). Resolves when the stream is over, whichever way.
 */
export async function sendStream(
  nc: NatsConnection,
  request: Msg,
  meta: unknown,
  source: ByteSource,
  options: SendStreamOptions = {},
): Promise<{ chunks: number; bytes: number; aborted?: Error }> {
  const replyTo = request.reply;
  if (!replyTo) return { chunks: 0, bytes: 0 };
  if (options.deadline !== undefined && Date.now() >= options.deadline) {
    // The receiver has given up and unsubscribed: sending would only fill the window into the
    // void and hold the source open until the idle timeout.
    return { chunks: 0, bytes: 0, aborted: new TrellisError("deadline_exceeded", "the receiver stopped waiting") };
  }
  const initial = Number(request.headers?.get(StreamHeaders.credit));
  const gate = new CreditGate(Number.isInteger(initial) && initial > 0 ? Math.min(initial, 1024) : 1);

  const control = createInbox();
  const sub = nc.subscribe(control, {
    callback: (err, msg) => {
      if (err) return gate.abort(err.message);
      const abort = msg.headers?.get(StreamHeaders.abort);
      if (abort) return gate.abort(abort);
      const n = Number(msg.headers?.get(StreamHeaders.credit));
      if (Number.isInteger(n) && n > 0) gate.grant(n);
    },
  });
  const progress = { chunks: 0, bytes: 0 };
  try {
    nc.publish(replyTo, encoder.encode(JSON.stringify(meta ?? {})), {
      headers: headersWith(StreamHeaders.control, control),
    });
    await pump(
      nc,
      replyTo,
      source,
      gate,
      chunkSizeFor(nc, options.chunkBytes),
      options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
      progress,
    );
    return progress;
  } catch (err) {
    const aborted = gate.aborted;
    if (!aborted) {
      // Tell the receiver why its stream stops.
      nc.publish(replyTo, errorReply(err).data, { headers: errorReply(err).headers });
      if (!(err instanceof TrellisError)) throw err;
    }
    return { ...progress, aborted: aborted ?? (err as Error) };
  } finally {
    sub.unsubscribe();
  }
}

export interface ReceiveStreamOptions {
  /** How long to wait for the start message (the request's deadline). */
  timeoutMs: number;
  window?: number;
  idleTimeoutMs?: number;
  /** Sent as the `Trellis-Request-Id` header. */
  requestId?: string | undefined;
}

/** A stream being received: its metadata, its chunks (consume once), and a way to stop it early. */
export interface IncomingStream<M> {
  readonly meta: M;
  readonly chunks: AsyncIterable<Uint8Array>;
  /** Stops the sender and frees the subscription; the iteration then fails with `cancelled`. Idempotent. */
  cancel(reason?: string): void;
}

const requestHeaders = (options: { timeoutMs: number; requestId?: string | undefined }, credit?: number) => {
  const h = natsHeaders();
  if (credit !== undefined) h.set(StreamHeaders.credit, String(credit));
  h.set(Headers.timeoutMs, String(options.timeoutMs));
  if (options.requestId) h.set(Headers.requestId, options.requestId);
  injectTrace(h);
  return h;
};

/** The first answer to a stream request: a refusal, "no responders", or a message with a control subject. */
function checkFirst(first: Msg, service: string): string {
  if (first.headers?.code === 503) {
    throw new TrellisError("unavailable", `${service} is unavailable`, { details: { service, retryAfterSeconds: 1 } });
  }
  if (first.headers?.get(Headers.errorCode)) throw decodeError(first);
  const control = first.headers?.get(StreamHeaders.control);
  if (!control) throw new TrellisError("internal", `${service} answered a stream request without a stream`);
  return control;
}

/**
 * The download receiver's end: publishes the request with an inbox and an initial window, waits
 * for the start message (or an error reply, or "no responders"), and returns the metadata and an
 * async iterable of chunks. Credit is granted as the consumer takes chunks, so a consumer that
 * writes to a slow socket and waits for it to drain slows the sender down to the same pace.
 */
export async function receiveStream(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  options: ReceiveStreamOptions,
): Promise<{ meta: unknown; stream: Omit<IncomingStream<unknown>, "meta"> }> {
  const window = options.window ?? STREAM_WINDOW;
  const service = serviceOfSubject(subject);
  const inbox = new Inbox(nc, service);

  let control: string | undefined;
  const cancel = (reason = "cancelled by the receiver") => {
    if (inbox.closed) return;
    inbox.close();
    if (control) nc.publish(control, EMPTY, { headers: headersWith(StreamHeaders.abort, reason.slice(0, 200)) });
  };

  let meta: unknown;
  try {
    nc.publish(subject, payload, { reply: inbox.subject, headers: requestHeaders(options, window) });
    const first = await inbox.next(options.timeoutMs, `${service} did not start the stream`);
    control = checkFirst(first, service);
    try {
      meta = JSON.parse(new TextDecoder().decode(first.data));
    } catch {
      throw new TrellisError("internal", `${service} sent malformed stream metadata`);
    }
  } catch (err) {
    cancel("the stream did not start");
    throw err;
  }

  const controlSubject = control;
  const chunks = receiveChunks(
    inbox,
    window,
    options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
    service,
    (n) => nc.publish(controlSubject, EMPTY, { headers: headersWith(StreamHeaders.credit, String(n)) }),
    cancel,
  );
  return { meta, stream: { chunks, cancel } };
}

export interface SendUploadOptions extends ReceiveStreamOptions {
  chunkBytes?: number;
  /** How often the caller checks that the service still handles the upload (default 1 s). */
  probeMs?: number;
}

/** How often an upload's caller checks that the service handling it is still there. */
export const UPLOAD_PROBE_MS = 1_000;

/**
 * The upload sender's end (the caller): publishes the request, waits for the service's ready
 * message (or a refusal, or "no responders"), sends the source's bytes to the service's data
 * subject as it grants, then waits for the service's result. A failing source (an HTTP client that
 * disconnected) aborts the upload, and the service's handler sees its chunks fail with `cancelled`.
 * Resolves with the result's JSON, unvalidated (the typed client validates it).
 */
export async function sendUpload(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  source: ByteSource,
  options: SendUploadOptions,
): Promise<unknown> {
  const service = serviceOfSubject(subject);
  const idleTimeoutMs = options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
  const inbox = createInbox();
  const gate = new CreditGate(0);
  let ready: ((control: Msg) => void) | undefined;
  let finished: ((msg: Msg) => void) | undefined;
  const readyMsg = new Promise<Msg>((resolve) => {
    ready = resolve;
  });
  const resultMsg = new Promise<Msg>((resolve) => {
    finished = resolve;
  });
  // Everything the service says comes to one inbox: ready, grants, then the result.
  const sub = nc.subscribe(inbox, {
    callback: (_err, msg) => {
      if (msg.headers?.get(StreamHeaders.control) && ready) {
        const r = ready;
        ready = undefined;
        r(msg);
      } else if (msg.headers?.get(StreamHeaders.result) || msg.headers?.get(Headers.errorCode) || msg.headers?.code) {
        // A refusal before ready (or "no responders") settles both.
        ready?.(msg);
        finished?.(msg);
        gate.abort("the service answered");
      } else {
        const n = Number(msg.headers?.get(StreamHeaders.credit));
        if (Number.isInteger(n) && n > 0) gate.grant(n);
      }
    },
  });
  const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new TrellisError("deadline_exceeded", `${service} ${what} within ${ms} ms`, { details: { service } })),
        ms,
      );
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });

  let dataSubject: string | undefined;
  // Set when the service's process is gone mid-upload (its probe subject lost its responder
  // before a result came): the upload fails with `unavailable` at once.
  let gone: TrellisError | undefined;
  let answered = false;
  void resultMsg.then(() => {
    answered = true;
  });
  let onGone: ((err: TrellisError) => void) | undefined;
  const goneMsg = new Promise<never>((_, reject) => {
    onGone = reject;
  });
  goneMsg.catch(() => {});
  let probeTimer: NodeJS.Timeout | undefined;
  const watch = (probeSubject: string) => {
    const every = options.probeMs ?? UPLOAD_PROBE_MS;
    let inFlight = false;
    probeTimer = setInterval(() => {
      if (inFlight || answered || gone) return;
      inFlight = true;
      nc.request(probeSubject, EMPTY, { timeout: Math.max(every * 2, 2_000) })
        .then(
          () => undefined,
          (err: unknown) => {
            // A timeout is a slow service, not a dead one: the stream's own timeouts handle it.
            if (answered || gone || !isNoResponders(err)) return;
            gone = new TrellisError("unavailable", `${service} went away during the upload`, {
              details: { service, retryAfterSeconds: 1 },
            });
            gate.abort("the service went away");
            onGone?.(gone);
          },
        )
        .finally(() => {
          inFlight = false;
        });
    }, every);
  };
  try {
    nc.publish(subject, payload, { reply: inbox, headers: requestHeaders(options) });
    const first = await within(readyMsg, options.timeoutMs, "did not take the upload");
    dataSubject = checkFirst(first, service);
    const probeSubject = first.headers?.get(StreamHeaders.probe);
    if (probeSubject) watch(probeSubject);
    const initial = Number(first.headers?.get(StreamHeaders.credit));
    gate.grant(Number.isInteger(initial) && initial > 0 ? Math.min(initial, 1024) : 1);
    try {
      await pump(nc, dataSubject, source, gate, chunkSizeFor(nc, options.chunkBytes), idleTimeoutMs, {
        chunks: 0,
        bytes: 0,
      });
    } catch (err) {
      if (gone) throw gone;
      // The service answered early (it refused the bytes): its answer is the outcome.
      if (gate.aborted) return decodeResult(await resultMsg, service);
      const reason = err instanceof Error ? err.message : String(err);
      nc.publish(dataSubject, EMPTY, { headers: headersWith(StreamHeaders.abort, reason.slice(0, 200)) });
      throw err;
    }
    // The handler may still be storing the last bytes: as long again as a request may take.
    return decodeResult(
      await Promise.race([within(resultMsg, options.timeoutMs, "did not finish the upload"), goneMsg]),
      service,
    );
  } finally {
    clearInterval(probeTimer);
    sub.unsubscribe();
  }
}

const isNoResponders = (err: unknown): boolean => {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof errors.NoRespondersError) return true;
  return false;
};

function decodeResult(msg: Msg, service: string): unknown {
  if (msg.headers?.code === 503) {
    throw new TrellisError("unavailable", `${service} is unavailable`, { details: { service, retryAfterSeconds: 1 } });
  }
  if (msg.headers?.get(Headers.errorCode)) throw decodeError(msg);
  try {
    return JSON.parse(new TextDecoder().decode(msg.data));
  } catch {
    throw new TrellisError("internal", `${service} sent a malformed upload result`);
  }
}

/**
 * The upload receiver's end (the service), on a request for an upload endpoint: opens a data
 * subject, tells the caller it is ready with an initial window, and returns the incoming chunks
 * (granting more as they are taken) and `finish`, which sends the handler's result or error to
 * the caller. A handler that stops reading before the end aborts the caller's sending.
 */
export function receiveUpload(
  nc: NatsConnection,
  request: Msg,
  options: { window?: number; idleTimeoutMs?: number } = {},
): { chunks: AsyncIterable<Uint8Array>; finish(result: { ok: unknown } | { error: unknown }): void } {
  const replyTo = request.reply;
  const window = options.window ?? STREAM_WINDOW;
  const inbox = new Inbox(nc);
  const grant = (n: number) => {
    if (replyTo) nc.publish(replyTo, EMPTY, { headers: headersWith(StreamHeaders.credit, String(n)) });
  };
  // A handler that stops reading early: the caller stops sending when the result comes (it does
  // not wait for credit after a result), so closing the data subject is all there is to do.
  const stop = () => inbox.close();
  // Answered until the result is sent: the caller's way to tell this process died mid-upload.
  const probe = nc.subscribe(createInbox(), { callback: (_err, msg) => void msg.respond(EMPTY) });
  if (replyTo) {
    const h = headersWith(StreamHeaders.control, inbox.subject);
    h.set(StreamHeaders.credit, String(window));
    h.set(StreamHeaders.probe, probe.getSubject());
    nc.publish(replyTo, EMPTY, { headers: h });
  }
  const chunks = receiveChunks(
    inbox,
    window,
    options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
    "the caller",
    grant,
    stop,
  );
  return {
    chunks,
    finish(result) {
      inbox.close();
      if (replyTo) {
        if ("error" in result) {
          const e = errorReply(result.error);
          nc.publish(replyTo, e.data, { headers: e.headers });
        } else {
          nc.publish(replyTo, encoder.encode(JSON.stringify(result.ok ?? {})), {
            headers: headersWith(StreamHeaders.result, "1"),
          });
        }
      }
      // After the result, on the same connection: the caller has the result before the probe
      // subject can answer "no responders".
      probe.unsubscribe();
    },
  };
}
