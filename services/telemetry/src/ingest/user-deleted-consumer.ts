import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import { AUTH_EVENTS_STREAM, authEvents } from "@trellis/contracts";
import { decodeJson } from "@trellis/runtime";
import type { Logger } from "pino";
import type { MonitorData } from "../monitor-data.ts";
import type { MonitorsStore } from "../store/monitors.ts";

/** Durable name of the cascade consumer: shared by every instance, survives restarts. */
export const USER_DELETED_CONSUMER = "telemetry-user-deleted";

const RETRY_DELAY_MS = 5_000;

export interface UserDeletedOptions {
  js: JetStreamClient;
  monitors: MonitorsStore;
  monitorData: MonitorData;
  log: Logger;
}

/**
 * Deletes every monitor of a deleted user, with its readings and rollups (auth removes the
 * credentials itself). Durable: a deletion published while telemetry was down is handled when it
 * comes back; a failure is retried (every step is idempotent).
 */
export class UserDeletedCascade {
  private readonly opts: UserDeletedOptions;
  private messages: ConsumerMessages | undefined;
  private done: Promise<void> = Promise.resolve();
  private stopped: Promise<void> | undefined;

  constructor(opts: UserDeletedOptions) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    const consumer = await this.opts.js.consumers.get(AUTH_EVENTS_STREAM, USER_DELETED_CONSUMER);
    this.messages = await consumer.consume({ max_messages: 10 });
    this.done = this.loop(this.messages);
  }

  /** Stops pulling and waits for the event being handled. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.messages?.close();
      await this.done;
    })();
    return this.stopped;
  }

  private async loop(messages: ConsumerMessages): Promise<void> {
    const { monitors, monitorData, log } = this.opts;
    for await (const msg of messages) {
      let userId: string;
      try {
        userId = authEvents.userDeleted.schema.parse(decodeJson(msg.data)).userId;
      } catch (err) {
        log.error({ err, seq: msg.seq }, "malformed user_deleted event");
        msg.term("malformed user_deleted event");
        continue;
      }
      try {
        const owned = await monitors.list({ ownerId: userId });
        for (const monitor of owned) await monitorData.remove(monitor);
        if (owned.length > 0)
          log.info({ userId, monitors: owned.map((m) => m._id) }, "monitors of deleted user removed");
        msg.ack();
      } catch (err) {
        log.error({ err, userId }, "removing monitors of deleted user failed; will retry");
        msg.nak(RETRY_DELAY_MS);
      }
    }
  }
}
