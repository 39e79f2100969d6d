/**
 * Byte streams over NATS: one module for both ends, so sender and receiver cannot drift apart.
 *
 * A reply that may be larger than the server's `max_payload` (or than anyone should hold in
 * memory) travels as numbered chunks with credit-based flow control:
 *
 *   receiver ── request (reply: inbox, `Credit: N`) ──────────────► sender
 *   receiver ◄── start (`Control: <subject>`, metadata JSON) ───────── sender
 *   receiver ◄── chunk (`Seq: 0`) … chunk (`Seq: k`) ───────────────── sender   (never more than granted)
 *   receiver ── grant (`Credit: n`) to <Control> ─────────────────────► sender   (as the consumer takes chunks)
 *   receiver ◄── end (`End`) or an error reply (`Trellis-Error-Code`) ─ sender
 *   receiver ── abort (`Abort: reason`) to <Control> ─────────────────► sender   (the consumer went away)
 *
 * So neither end buffers more than the window (credit × chunk size), a slow consumer slows the
 * producer down to its pace, a consumer that leaves stops the producer, and a producer whose
 * receiver vanished gives up after `idleTimeoutMs` without grants.
 */
import { createInbox, type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { ErrorBody, Headers, StreamHeaders, TrellisError } from "@trellis/contracts";

/** Chunk payload size: well under every `max_payload` in use (1 MiB default, 8 MiB here). */
export const STREAM_CHUNK_BYTES = 256 * 1024;
/** Chunks a receiver lets be in flight: 2 MiB at the default chunk size. */
export const STREAM_WINDOW = 8;
/** How long either end waits for the other (a grant, a chunk) before it gives up. */
export const STREAM_IDLE_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

const abortError = (reason: string) => new TrellisError("cancelled", `the receiver stopped the stream: ${reason}`);

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
 * The sender's end, started on a request that asked for a stream: answers with the start message
 * (`meta` as JSON and the control subject), then sends the source's bytes in chunks as credit
 * allows, then the end marker. A failure of the source after the start is sent as an error reply
 * (the receiver fails the stream); an abort or a silent receiver stops the source (`return()`).
 * Resolves when the stream is over, whichever way.
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
  // Room for the headers under max_payload, but never below 1 KiB (a tiny or unknown max_payload
  // made this 0 or negative: rechunk then never finished a chunk).
  const chunkBytes = Math.min(
    options.chunkBytes ?? STREAM_CHUNK_BYTES,
    Math.max(1024, (nc.info?.max_payload ?? 1024 * 1024) - 4096),
  );
  const idleTimeoutMs = options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
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
  const start = natsHeaders();
  start.set(StreamHeaders.control, control);
  let chunks = 0;
  let bytes = 0;
  try {
    nc.publish(replyTo, encoder.encode(JSON.stringify(meta ?? {})), { headers: start });
    for await (const chunk of rechunk(source, chunkBytes)) {
      await gate.take(idleTimeoutMs);
      const h = natsHeaders();
      h.set(StreamHeaders.seq, String(chunks));
      nc.publish(replyTo, chunk, { headers: h });
      chunks += 1;
      bytes += chunk.length;
    }
    const end = natsHeaders();
    end.set(StreamHeaders.end, "1");
    nc.publish(replyTo, EMPTY, { headers: end });
    return { chunks, bytes };
  } catch (err) {
    const aborted = gate.aborted;
    if (!aborted) {
      // Tell the receiver why its stream stops (a bug is reported as `internal`, as `serve` does).
      const error = err instanceof TrellisError ? err : new TrellisError("internal", "internal error", { cause: err });
      const h = natsHeaders();
      h.set(Headers.errorCode, error.code);
      nc.publish(replyTo, encoder.encode(JSON.stringify(ErrorBody.parse(error.toBody()))), { headers: h });
      if (!(err instanceof TrellisError)) throw err;
    }
    return { chunks, bytes, aborted: aborted ?? (err as Error) };
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
 * The receiver's end: publishes the request with an inbox and an initial window, waits for the
 * start message (or an error reply, or "no responders"), and returns the metadata and an async
 * iterable of chunks. Credit is granted as the consumer takes chunks, so a consumer that writes
 * to a slow socket and waits for it to drain slows the sender down to the same pace.
 */
export async function receiveStream(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  options: ReceiveStreamOptions,
): Promise<{ meta: unknown; stream: Omit<IncomingStream<unknown>, "meta"> }> {
  const window = options.window ?? STREAM_WINDOW;
  const idleTimeoutMs = options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
  const service = subject.split(".")[0] ?? subject;
  const inbox = createInbox();

  // Messages wait here until the consumer asks; the sender's credit bounds how many there can be.
  const queue: Msg[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const sub = nc.subscribe(inbox, {
    callback: (_err, msg) => {
      queue.push(msg);
      wake?.();
    },
  });
  const next = async (timeoutMs: number, what: string): Promise<Msg> => {
    if (queue.length === 0 && !closed) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      wake = undefined;
    }
    // Once cancelled, nothing more: not the chunks still buffered, and no wait for ones that will
    // never come (the subscription is gone, so nothing would wake this up before the timeout).
    if (closed) throw new TrellisError("cancelled", "the stream was cancelled");
    const msg = queue.shift();
    if (!msg) {
      throw new TrellisError("deadline_exceeded", `${service} ${what} within ${timeoutMs} ms`, {
        details: { service },
      });
    }
    return msg;
  };

  let control: string | undefined;
  const cancel = (reason = "cancelled by the receiver") => {
    if (closed) return;
    closed = true;
    sub.unsubscribe();
    wake?.();
    if (control) {
      const h = natsHeaders();
      h.set(StreamHeaders.abort, reason.slice(0, 200));
      nc.publish(control, EMPTY, { headers: h });
    }
  };

  const h = natsHeaders();
  h.set(StreamHeaders.credit, String(window));
  h.set(Headers.timeoutMs, String(options.timeoutMs));
  if (options.requestId) h.set(Headers.requestId, options.requestId);
  let first: Msg;
  try {
    nc.publish(subject, payload, { reply: inbox, headers: h });
    first = await next(options.timeoutMs, "did not start the stream");
  } catch (err) {
    cancel();
    throw err;
  }
  if (first.headers?.code === 503) {
    cancel();
    throw new TrellisError("unavailable", `${service} is unavailable`, { details: { service, retryAfterSeconds: 1 } });
  }
  if (first.headers?.get(Headers.errorCode)) {
    cancel();
    throw decodeError(first);
  }
  control = first.headers?.get(StreamHeaders.control) || undefined;
  if (!control) {
    cancel();
    throw new TrellisError("internal", `${service} answered a stream request without a stream`);
  }
  let meta: unknown;
  try {
    meta = JSON.parse(new TextDecoder().decode(first.data));
  } catch {
    cancel("malformed start");
    throw new TrellisError("internal", `${service} sent malformed stream metadata`);
  }

  const controlSubject = control;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    let expected = 0;
    let taken = 0;
    let ended = false;
    try {
      for (;;) {
        const msg = await next(idleTimeoutMs, "stopped sending");
        if (msg.headers?.get(Headers.errorCode)) {
          ended = true;
          throw decodeError(msg);
        }
        if (msg.headers?.get(StreamHeaders.end)) {
          ended = true;
          return;
        }
        if (msg.headers?.get(StreamHeaders.seq) !== String(expected)) {
          throw new TrellisError("internal", `chunk ${expected} of a ${service} stream was lost`);
        }
        expected += 1;
        yield msg.data;
        // The consumer took this chunk: grant more in batches of half a window.
        taken += 1;
        if (taken >= Math.ceil(window / 2)) {
          const g = natsHeaders();
          g.set(StreamHeaders.credit, String(taken));
          nc.publish(controlSubject, EMPTY, { headers: g });
          taken = 0;
        }
      }
    } finally {
      // The sender ended (normally or with an error): nothing to stop. Otherwise the consumer
      // broke off or failed: stop the sender.
      if (ended) {
        closed = true;
        sub.unsubscribe();
      } else cancel("receiver stopped");
    }
  }
  return { meta, stream: { chunks: chunks(), cancel } };
}
