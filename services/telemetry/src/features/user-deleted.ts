import type { NatsConnection } from "@nats-io/transport-node";
import { AUTH_EVENTS_STREAM, authEvents } from "@trellis/contracts";
import { consume, type DurableConsumer, type DurableSpec, nanos, RETRY_POLICIES } from "@trellis/runtime";
import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import type { MonitorData } from "../monitor-data.ts";

/** Durable name of the cascade consumer: shared by every instance, survives restarts. */
export const USER_DELETED_CONSUMER = "telemetry-user-deleted";
/** A deletion not acked within this long is delivered again (a user's monitors are removed one by one). */
const ACK_WAIT_MS = 60_000;

export const userDeletedConsumerSpec = (): DurableSpec => ({
  durable_name: USER_DELETED_CONSUMER,
  filter_subject: authEvents.userDeleted.subject,
  ack_wait: nanos(ACK_WAIT_MS),
});

export interface UserDeletedDeps {
  nc: NatsConnection;
  /** JETSTREAM_REPLICAS: of the dead-letter stream, when this creates it. */
  config: Pick<TelemetryConfig, "JETSTREAM_REPLICAS">;
  /** The deleted user's monitors, and alarm webhook. */
  stores: Pick<Stores, "monitors" | "webhooks">;
  monitorData: MonitorData;
  log: Logger;
}

/**
 * Deletes every monitor of a deleted user, with its readings and rollups (auth removes the
 * credentials itself), and the user's alarm webhook. Durable: a deletion published while telemetry
 * was down is handled when it comes back; a failure is retried later (every step is idempotent); a
 * malformed event is dead-lettered.
 */
export function startUserDeletedCascade({
  nc,
  config,
  stores,
  monitorData,
  log,
}: UserDeletedDeps): Promise<DurableConsumer> {
  return consume(nc, {
    service: "telemetry",
    stream: AUTH_EVENTS_STREAM,
    consumer: USER_DELETED_CONSUMER,
    schema: authEvents.userDeleted.schema,
    retry: RETRY_POLICIES.userDeleted,
    replicas: config.JETSTREAM_REPLICAS,
    log: log.child({ component: "cascade" }),
    handler: async ({ userId }, ctx) => {
      const owned = await stores.monitors.list({ ownerId: userId });
      for (const monitor of owned) await monitorData.remove(monitor);
      await stores.webhooks.delete(userId);
      if (owned.length > 0)
        ctx.log.info({ userId, monitors: owned.map((m) => m._id) }, "monitors of deleted user removed");
    },
  });
}
