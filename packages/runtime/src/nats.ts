import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";

export interface NatsOptions {
  servers: string;
  name: string;
  user?: string | undefined;
  pass?: string | undefined;
  log: Logger;
}

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
    // nats.js otherwise builds an Error (a stack trace) for every request and publish-with-ack, in
    // case it times out: ~13% of a core in a profile at 5k JetStream publishes/s. A failed request
    // is a typed error with a code here; its async stack adds nothing.
    noAsyncTraces: true,
  });
  options.log.info({ server: nc.getServer() }, "nats connected");
  trackConnection(nc);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error" || s.type === "ldm") {
        options.log.warn({ nats: s.type, server: "server" in s ? s.server : undefined }, "nats status");
      }
    }
  })();
  return nc;
}

const disconnected = new WeakMap<NatsConnection, boolean>();

/** Follows a connection's disconnects and reconnects, for `natsConnected`. */
export function trackConnection(nc: NatsConnection): void {
  if (disconnected.has(nc)) return;
  disconnected.set(nc, false);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") disconnected.set(nc, true);
      else if (s.type === "reconnect") disconnected.set(nc, false);
    }
  })();
}

/**
 * Whether the connection is up right now: not closed or draining and, when tracked (every
 * connection `connectNats` made), not between a disconnect and the reconnect. A connection that is
 * reconnecting is not closed, so `isClosed()` alone would call it up.
 */
export function natsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && !nc.isDraining() && disconnected.get(nc) !== true;
}
