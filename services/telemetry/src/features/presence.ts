import type { JetStreamClient } from "@nats-io/jetstream";
import type { EventPublisher } from "@trellis/runtime";
import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import { type PresenceHandlers, presenceHandlers } from "../handlers/presence.ts";
import type { AlarmNotifier } from "../ingest/alarm-notifier.ts";
import type { SeenMonitor } from "../ingest/readings-consumer.ts";
import { OfflineAlarms } from "../presence/offline-alarms.ts";
import { PresenceTracker } from "../presence/tracker.ts";

export interface PresenceDeps {
  js: JetStreamClient;
  events: EventPublisher;
  config: Pick<
    TelemetryConfig,
    "OFFLINE_AFTER_SECONDS" | "PRESENCE_SWEEP_INTERVAL_MS" | "OUTBOX_RETRY_MS" | "OUTBOX_SWEEP_INTERVAL_MS"
  >;
  stores: Pick<Stores, "monitors" | "presence" | "alarms">;
  /** Offline alarms are announced like threshold alarms. */
  notifier: AlarmNotifier;
  log: Logger;
}

export interface Presence {
  /** Ingest's hook: monitors a round saw while they were not online (not awaited by ingest). */
  seen(monitors: readonly SeenMonitor[]): void;
  handlers: PresenceHandlers;
  stop(): Promise<void>;
}

/**
 * Offline detection: monitors go online when ingest sees them, offline when the sweeper finds them
 * silent past their timeout; each transition is announced once (events, live stream) and raises or
 * clears an offline alarm.
 */
export async function startPresence({ js, events, config, stores, notifier, log }: PresenceDeps): Promise<Presence> {
  const offlineAlarms = new OfflineAlarms(stores.alarms, notifier, log.child({ component: "alarms" }));
  const tracker = new PresenceTracker({
    store: stores.presence,
    events,
    js,
    log: log.child({ component: "presence" }),
    offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
    onChange: (change) => offlineAlarms.onPresence(change),
    sweepIntervalMs: config.PRESENCE_SWEEP_INTERVAL_MS,
    outboxRetryMs: config.OUTBOX_RETRY_MS,
    outboxSweepIntervalMs: config.OUTBOX_SWEEP_INTERVAL_MS,
  });
  await tracker.outbox.ensureIndexes();
  tracker.start();
  return {
    seen: (monitors) => tracker.seen(monitors),
    handlers: presenceHandlers({
      monitors: stores.monitors,
      presence: stores.presence,
      offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
    }),
    stop: () => tracker.stop(),
  };
}
