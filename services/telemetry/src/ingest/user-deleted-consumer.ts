import type { NatsConnection } from "@nats-io/transport-node";
import { AUTH_EVENTS_STREAM, authEvents } from "@trellis/contracts";
import { consume, type DurableConsumer, RETRY_POLICIES } from "@trellis/runtime";
import type { Logger } from "pino";
import type { MonitorData } from "../monitor-data.ts";
import type { MonitorsStore } from "../store/monitors.ts";

/** Durable name of the cascade consumer: shared by every instance, survives restarts. */
export const USER_DELETED_CONSUMER = "telemetry-user-deleted";

export interface UserDeletedOptions {
  nc: NatsConnection;
  /** Of the dead-letter stream, when this creates it (JETSTREAM_REPLICAS). */
  replicas?: number;
  monitors: MonitorsStore;
  monitorData: MonitorData;
  /** The deleted user's alarm webhook goes too. */
  webhooks?: { delete(userId: string): Promise<boolean> };
  log: Logger;
}

/**
 * Deletes every monitor of a deleted user, with its readings and rollups (auth removes the
 * credentials itself). Durable: a deletion published while telemetry was down is handled when it
 * comes back; a failure is retried later (every step is idempotent); a malformed event is
 * dead-lettered.
 */
export function startUserDeletedCascade({
  nc,
  replicas,
  monitors,
  monitorData,
  webhooks,
  log,
}: UserDeletedOptions): Promise<DurableConsumer> {
  return consume(nc, {
    service: "telemetry",
    stream: AUTH_EVENTS_STREAM,
    consumer: USER_DELETED_CONSUMER,
    schema: authEvents.userDeleted.schema,
    retry: RETRY_POLICIES.userDeleted,
    ...(replicas ? { replicas } : {}),
    log,
    handler: async ({ userId }, ctx) => {
      const owned = await monitors.list({ ownerId: userId });
      for (const monitor of owned) await monitorData.remove(monitor);
      await webhooks?.delete(userId);
      if (owned.length > 0)
        ctx.log.info({ userId, monitors: owned.map((m) => m._id) }, "monitors of deleted user removed");
    },
  });
}
