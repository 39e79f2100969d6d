import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { StoredWatch } from "./ingest/stored-watch.ts";
import type { MonitorData } from "./monitor-data.ts";
import type { MonitorsStore } from "./store/monitors.ts";
import type { ReadingsStore } from "./store/readings.ts";
import type { RollupsStore } from "./store/rollups.ts";

/** Everything the handlers work with, assembled once in main.ts. */
export interface TelemetryContext {
  nc: NatsConnection;
  js: JetStreamClient;
  monitors: MonitorsStore;
  readings: ReadingsStore;
  rollups: RollupsStore;
  monitorData: MonitorData;
  /** Tells a submission when its reading is stored (read-your-writes). */
  stored: StoredWatch;
}
