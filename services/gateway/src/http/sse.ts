import type { IncomingMessage, ServerResponse } from "node:http";
import { counter, gauge } from "@trellis/runtime";

const sseClients = gauge({
  name: "trellis_gateway_sse_clients",
  help: "Server-Sent Events streams open on this gateway (live readings, analysis progress, ...)",
});
const sseClosed = counter({
  name: "trellis_gateway_sse_closed_total",
  help: "Server-Sent Events streams ended, by reason (client_closed, dropped = too slow, closed = by the gateway)",
  labelNames: ["reason"] as const,
});

/**
 * Server-Sent Events, one helper for every live stream of the gateway (analysis progress,
 * telemetry live readings, ...): the headers, the `retry:` field, `Last-Event-ID`, heartbeats,
 * multi-line data, writes that respect backpressure, and cleanup when the client goes away.
 *
 * Slow clients. A client that reads slower than events arrive must not make the gateway buffer
 * without bound. The policy is chosen per stream (`slowClient`):
 * - `drop` (the default): once more than `maxBufferedBytes` (1 MiB by default) would be queued in
 *   the response, the client is sent a final `event: dropped` and the response is ended (and the
 *   socket destroyed if it has not flushed within `dropGraceMs`). An `EventSource` reconnects by
 *   itself with `Last-Event-ID`, so a stream that can resume (JetStream sequence, job events)
 *   loses nothing; the client just starts again from where it had got to.
 * - `skip`: events that would exceed the bound are not written; once the buffer is back under half
 *   the bound (at the next send, heartbeat or drain), one `event: skipped` with `{"skipped": n, "lastSkippedId": ...}` tells the client what it missed.
 *   For streams where only the latest value matters.
 * - `wait`: `send` first waits while the response's buffer is full (its high-water mark). The caller must await each `send`
 *   (its source is then paced by the client); the bound still applies as for `drop`, so a caller
 *   that does not await cannot grow the buffer without limit either.
 *
 * Authentication. A browser `EventSource` cannot set `Authorization`, so SSE routes also accept
 * the access token as `?access_token=` ({@link bearerFromRequest}). The trade-off: a URL ends up
 * in logs, browser history and proxies. The gateway's access log writes `req.path` only, never
 * the query string, and the logger redacts `access_token` keys; access tokens are short-lived.
 * Clients that can set headers (fetch-based SSE clients, servers) should send `Authorization`.
 */

export type SlowClientPolicy = "drop" | "skip" | "wait";

export interface SseOptions {
  /** A `: ping` comment line this often keeps proxies and load balancers from closing an idle stream. */
  heartbeatMs?: number;
  /** Sent as `retry:` first: how long an `EventSource` waits before reconnecting. */
  retryMs?: number;
  /** What to do with a client that does not keep up (see the module comment). Default `drop`. */
  slowClient?: SlowClientPolicy;
  /**
   * The most bytes queued in the response before the slow-client policy applies. Default 1 MiB.
   * An event is always written to an empty buffer, so the bound is this or one event, the larger.
   */
  maxBufferedBytes?: number;
  /** After a drop, how long the final event may take to flush before the socket is destroyed. */
  dropGraceMs?: number;
  /** Called once when the stream ends for any reason (client left, dropped, `close()`). */
  onClose?: (reason: SseCloseReason) => void;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

export type SseCloseReason = "client_closed" | "dropped" | "closed";

export interface SseEvent {
  id?: string | number;
  event?: string;
  /** A string is sent as is (split into `data:` lines); anything else as JSON. */
  data: unknown;
}

export interface SseStream {
  /** From the `Last-Event-ID` header, or the `lastEventId` query parameter of a first connection. */
  readonly lastEventId: string | undefined;
  readonly closed: boolean;
  /**
   * Writes one event. Resolves true when it was queued, false when it was not (stream closed,
   * client dropped, event skipped). With `wait` it first waits for room in the buffer.
   */
  send(event: SseEvent): Promise<boolean>;
  /** A comment line (`: text`), ignored by clients. */
  comment(text: string): boolean;
  /** Ends the stream, after an optional last event. */
  close(last?: SseEvent): void;
  /** Another callback for when the stream ends. */
  onClose(callback: (reason: SseCloseReason) => void): void;
  /** Resolves when the stream has ended. */
  readonly done: Promise<SseCloseReason>;
}

export const SSE_DEFAULTS = {
  heartbeatMs: 15_000,
  retryMs: 3_000,
  maxBufferedBytes: 1024 * 1024,
  dropGraceMs: 5_000,
} as const;

/** Longest `Last-Event-ID` accepted; a longer one is ignored (treated as a fresh start). */
export const MAX_LAST_EVENT_ID = 256;

const NEWLINES = /\r\n|\r|\n/;

/** One field value on one line: CR, LF and NUL cannot appear in `id` or `event`. */
const oneLine = (value: string): string => value.replace(/[\r\n\0]/g, "");

/** The wire form of one event: `id:`, `event:`, one `data:` line per line of data, blank line. */
export function formatEvent(event: SseEvent): string {
  let out = "";
  if (event.id !== undefined) out += `id: ${oneLine(String(event.id))}\n`;
  if (event.event !== undefined) out += `event: ${oneLine(event.event)}\n`;
  const text = typeof event.data === "string" ? event.data : (JSON.stringify(event.data) ?? "null");
  for (const line of text.split(NEWLINES)) out += `data: ${line}\n`;
  return `${out}\n`;
}

function queryParam(req: IncomingMessage, name: string): string | undefined {
  try {
    const value = new URL(req.url ?? "/", "http://x").searchParams.get(name);
    return value === null ? undefined : value;
  } catch {
    return undefined;
  }
}

/** `Last-Event-ID` from the header (reconnects), else from `?lastEventId=` (a first `EventSource` request). */
export function lastEventIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers["last-event-id"];
  const value = (Array.isArray(header) ? header[0] : header) ?? queryParam(req, "lastEventId");
  if (value === undefined) return undefined;
  const id = value.trim();
  return id === "" || id.length > MAX_LAST_EVENT_ID ? undefined : id;
}

/**
 * The bearer credentials of an SSE request: the `Authorization` header when present, otherwise
 * `Bearer <access_token>` from the query string (what a browser `EventSource` can send).
 */
export function bearerFromRequest(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header) return header;
  const token = queryParam(req, "access_token");
  return token ? `Bearer ${token}` : undefined;
}

/** Starts an event stream on `res` (status 200 and the SSE headers are sent at once). */
export function openSse(req: IncomingMessage, res: ServerResponse, options: SseOptions = {}): SseStream {
  const heartbeatMs = options.heartbeatMs ?? SSE_DEFAULTS.heartbeatMs;
  const maxBuffered = options.maxBufferedBytes ?? SSE_DEFAULTS.maxBufferedBytes;
  const policy = options.slowClient ?? "drop";
  const dropGraceMs = options.dropGraceMs ?? SSE_DEFAULTS.dropGraceMs;
  const callbacks: ((reason: SseCloseReason) => void)[] = options.onClose ? [options.onClose] : [];
  let closed = false;
  let skipped = 0;
  let lastSkippedId: string | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let resolveDone: (reason: SseCloseReason) => void = () => {};
  const done = new Promise<SseCloseReason>((resolve) => {
    resolveDone = resolve;
  });

  res.statusCode = 200;
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache, no-transform");
  res.setHeader("Connection", "keep-alive");
  res.setHeader("X-Accel-Buffering", "no");
  for (const [k, v] of Object.entries(options.headers ?? {})) res.setHeader(k, v);
  res.socket?.setNoDelay(true);
  // A stream may stay open for hours: no idle timeout on its socket.
  req.socket.setTimeout(0);

  sseClients.inc();
  const finish = (reason: SseCloseReason) => {
    if (closed) return;
    closed = true;
    sseClients.dec();
    sseClosed.inc({ reason });
    clearInterval(heartbeat);
    res.off("close", onClientClose);
    res.off("drain", onDrain);
    resolveDone(reason);
    for (const cb of callbacks) {
      try {
        cb(reason);
      } catch {
        // A failing callback must not keep the others from running.
      }
    }
  };
  const onClientClose = () => {
    clearTimeout(graceTimer);
    finish("client_closed");
  };
  /** With `skip`: once there is room again, one marker saying how many events were left out. */
  const flushSkipped = () => {
    if (closed || skipped === 0 || res.writableLength > maxBuffered / 2) return;
    const marker = formatEvent({ event: "skipped", data: { skipped, lastSkippedId: lastSkippedId ?? null } });
    skipped = 0;
    lastSkippedId = undefined;
    res.write(marker);
  };
  const onDrain = () => flushSkipped();
  res.on("close", onClientClose);
  res.on("drain", onDrain);

  const drop = () => {
    if (closed) return;
    // The final event is small; the bound is exceeded by at most its size.
    res.end(formatEvent({ event: "dropped", data: { reason: "the client did not keep up; reconnect to resume" } }));
    graceTimer = setTimeout(() => res.destroy(), dropGraceMs);
    graceTimer.unref();
    res.once("close", () => clearTimeout(graceTimer));
    finish("dropped");
  };

  const heartbeat = setInterval(() => {
    flushSkipped();
    // A client that is behind has data queued already: a ping would only add to it.
    if (!closed && res.writableLength === 0) res.write(": ping\n\n");
  }, heartbeatMs);

  res.flushHeaders();
  if (options.retryMs !== undefined) res.write(`retry: ${Math.max(0, Math.trunc(options.retryMs))}\n\n`);

  /** Where `wait` waits: the response's high-water mark, or half the bound when that is lower. */
  const waitMark = () => Math.min(res.writableHighWaterMark, maxBuffered / 2);
  /** Resolves true once the response's buffer is below its high-water mark, false if the client left. */
  const waitForDrain = (): Promise<boolean> =>
    new Promise((resolve) => {
      const settle = (value: boolean) => {
        clearInterval(poll);
        res.off("drain", onDrained);
        res.off("close", onGone);
        resolve(value);
      };
      const onDrained = () => settle(true);
      const onGone = () => settle(false);
      // 'drain' is not emitted when the socket took the data before the response saw it was full.
      const poll = setInterval(() => {
        if (res.destroyed || closed) settle(false);
        else if (res.writableLength < waitMark()) settle(true);
      }, 20);
      res.once("drain", onDrained);
      res.once("close", onGone);
    });

  const stream: SseStream = {
    lastEventId: lastEventIdOf(req),
    get closed() {
      return closed;
    },
    done,
    async send(event) {
      if (closed || res.destroyed) return false;
      flushSkipped();
      if (policy === "wait" && res.writableLength >= waitMark() && !(await waitForDrain())) return false;
      if (closed || res.destroyed) return false;
      const chunk = formatEvent(event);
      // An empty buffer always takes the event, so one event larger than the bound still goes out.
      if (res.writableLength > 0 && res.writableLength + Buffer.byteLength(chunk) > maxBuffered) {
        if (policy === "skip") {
          skipped++;
          if (event.id !== undefined) lastSkippedId = String(event.id);
          return false;
        }
        drop();
        return false;
      }
      res.write(chunk);
      return true;
    },
    comment(text) {
      if (closed || res.destroyed) return false;
      let out = "";
      for (const line of text.split(NEWLINES)) out += `: ${line}\n`;
      res.write(`${out}\n`);
      return true;
    },
    close(last) {
      if (closed) return;
      if (last && !res.destroyed) res.end(formatEvent(last));
      else res.end();
      finish("closed");
    },
    onClose(callback) {
      if (closed) return;
      callbacks.push(callback);
    },
  };
  return stream;
}
