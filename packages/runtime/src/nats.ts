import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import type { Logger } from "pino";

export interface NatsOptions {
  servers: string;
  name: string;
  user?: string | undefined;
  pass?: string | undefined;
  log: Logger;
}

/**
 * How long one connection attempt may take (nats.js's default is 20 s). An attempt to a node whose
 * address drops packets (a stopped container, a deleted pod) gets no refusal and would hold the
 * reconnect that long; a NATS handshake on a working network takes milliseconds.
 */
export const NATS_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Connects to NATS and reports connection status changes to the given logger. Reconnects forever:
 * a service outlives a broker restart.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: options.servers.split(",").map((s) => s.trim()),
    name: options.name,
    ...(options.user ? { user: options.user, pass: options.pass ?? "" } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: NATS_CONNECT_TIMEOUT_MS,
    // nats.js otherwise builds an Error (a stack trace) for every request and publish-with-ack, in
    // case it times out: ~13% of a core in a profile at 5k JetStream publishes/s. A failed request
    // is a typed error with a code here; its async stack adds nothing.
    noAsyncTraces: true,
  });
  options.log.info({ server: nc.getServer() }, "nats connected");
  trackConnection(nc);
  onNatsStatus(nc, (s) => {
    if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error" || s.type === "ldm") {
      options.log.warn({ nats: s.type, server: "server" in s ? s.server : undefined }, "nats status");
    }
  });
  return nc;
}

/**
 * Calls `listener` with each status change of the connection (disconnect, reconnect, …) until the
 * connection closes or the returned function is called. The loop over nats.js's status iterator
 * lives here, so callers own a stop function instead of a floating promise.
 */
export function onNatsStatus(nc: NatsConnection, listener: (status: Status) => void): () => void {
  // nats.js returns a QueuedIterator (with stop()) typed as a plain AsyncIterable.
  const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  let stopped = false;
  void (async () => {
    for await (const s of statuses) {
      if (stopped) break;
      listener(s);
    }
  })();
  return () => {
    stopped = true;
    statuses.stop?.();
  };
}

/** What `trackConnection` follows of a connection. */
interface ConnectionTrack {
  disconnected: boolean;
  /** Reconnects so far: a request in flight across one was lost with the old connection. */
  reconnects: number;
}

const tracked = new WeakMap<NatsConnection, ConnectionTrack>();

/** Follows a connection's disconnects and reconnects, for `natsConnected` and `natsReconnects`. */
export function trackConnection(nc: NatsConnection): void {
  if (tracked.has(nc)) return;
  const track: ConnectionTrack = { disconnected: false, reconnects: 0 };
  tracked.set(nc, track);
  onNatsStatus(nc, (s) => {
    if (s.type === "disconnect") track.disconnected = true;
    else if (s.type === "reconnect") {
      track.disconnected = false;
      track.reconnects += 1;
    }
  });
}

/**
 * Whether the connection is up right now: not closed or draining and, when tracked (every
 * connection `connectNats` made), not between a disconnect and the reconnect. A connection that is
 * reconnecting is not closed, so `isClosed()` alone would call it up.
 */
export function natsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && !nc.isDraining() && tracked.get(nc)?.disconnected !== true;
}

/** How many times a tracked connection has reconnected (0 for one that is not tracked). */
export function natsReconnects(nc: NatsConnection): number {
  return tracked.get(nc)?.reconnects ?? 0;
}
