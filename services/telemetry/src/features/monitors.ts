import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import type { TelemetryContext } from "../context.ts";
import { compatV1Handlers } from "../handlers/compat-v1.ts";
import { monitorHandlers } from "../handlers/monitors.ts";
import { readingHandlers } from "../handlers/readings.ts";
import type { StoredWatch } from "../ingest/stored-watch.ts";
import type { MonitorData } from "../monitor-data.ts";
import { rollupDaysOf } from "./retention.ts";

export interface MonitorsDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  config: Parameters<typeof rollupDaysOf>[0] & Pick<TelemetryConfig, "OFFLINE_AFTER_SECONDS">;
  stores: Stores;
  monitorData: MonitorData;
  stored: StoredWatch;
}

/**
 * Monitors and their readings over the catalog: adding, reading, resetting and deleting monitors,
 * submitting and querying readings, and seed 002's v1 view. Request handlers only: nothing runs
 * in the background, so nothing to stop.
 */
export function monitorsFeature({ nc, js, config, stores, monitorData, stored }: MonitorsDeps) {
  const t: TelemetryContext = {
    nc,
    js,
    monitors: stores.monitors,
    readings: stores.readings,
    rollups: stores.rollups,
    monitorData,
    stored,
    presence: stores.presence,
    tiers: stores.tiers,
    rollupDays: rollupDaysOf(config),
    offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
  };
  return { handlers: { ...monitorHandlers(t), ...readingHandlers(t), ...compatV1Handlers(t) } };
}
