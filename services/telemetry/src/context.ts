import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { RetentionWindows } from "./domain/downsample.ts";
import type { StoredWatch } from "./ingest/stored-watch.ts";
import type { MonitorData } from "./monitor-data.ts";
import type { MonitorsStore } from "./store/monitors.ts";
import type { PresenceStore } from "./store/presence.ts";
import type { ReadingsStore } from "./store/readings.ts";
import type { RollupTiersStore } from "./store/rollup-tiers.ts";
import type { RollupsStore } from "./store/rollups.ts";

/** What the monitor and reading handlers work with, assembled once (features/monitors.ts). */
export interface TelemetryContext {
  nc: NatsConnection;
  js: JetStreamClient;
  monitors: MonitorsStore;
  readings: ReadingsStore;
  rollups: RollupsStore;
  monitorData: MonitorData;
  /** Presence and per-monitor settings (offline detection, retention overrides). */
  presence: PresenceStore;
  /** Rollups at every resolution, and how long each is kept (series pick from them). */
  tiers: RollupTiersStore;
  rollupDays: RetentionWindows;
  /** The global inactivity timeout (seconds). */
  offlineAfterSeconds: number;
  /** Tells a submission when its reading is stored (read-your-writes). */
  stored: StoredWatch;
}
