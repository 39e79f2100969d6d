import type { JetStreamManager } from "@nats-io/jetstream";
import { deviceSubjects, READINGS_STREAM, telemetryEvents } from "@trellis/contracts";
import type { EventPublisher } from "@trellis/runtime";
import type { CommandsStore } from "./store/commands.ts";
import type { MonitorDoc, MonitorsStore } from "./store/monitors.ts";
import type { ReadingsStore } from "./store/readings.ts";
import type { RollupTiersStore } from "./store/rollup-tiers.ts";
import type { RollupsStore } from "./store/rollups.ts";

export interface MonitorDataDeps {
  monitors: MonitorsStore;
  readings: ReadingsStore;
  rollups: RollupsStore;
  tiers: RollupTiersStore;
  jsm: JetStreamManager;
  events: EventPublisher;
  commands: CommandsStore;
  /** Alarm rules, their state and the monitor's alarms, removed with the monitor. */
  alarmData?: { removeMonitor(monitorId: string): Promise<void> };
}

/**
 * Removes what telemetry keeps of a monitor. Each step is idempotent and the monitor document
 * goes last, so a retry after a failure half way finds the monitor and finishes the job.
 */
export class MonitorData {
  private readonly deps: MonitorDataDeps;

  constructor(deps: MonitorDataDeps) {
    this.deps = deps;
  }

  /** Readings not yet consumed, stored readings and rollups; the monitor stays. */
  async clear(monitorId: string): Promise<void> {
    // Unconsumed messages first: otherwise they would land again right after the reset.
    await this.deps.jsm.streams.purge(READINGS_STREAM, { filter: deviceSubjects.readings(monitorId) });
    await this.deps.readings.deleteForMonitor(monitorId);
    await this.deps.rollups.deleteForMonitor(monitorId);
    await this.deps.tiers.deleteForMonitor(monitorId);
  }

  /** Everything, then the monitor itself, then `monitor_deleted`. */
  async remove(monitor: MonitorDoc): Promise<void> {
    await this.clear(monitor._id);
    await this.deps.commands.deleteForMonitor(monitor._id);
    await this.deps.alarmData?.removeMonitor(monitor._id);
    await this.deps.monitors.delete(monitor._id);
    await this.deps.events.publish(
      telemetryEvents.monitorDeleted,
      { monitorId: monitor._id, ownerId: monitor.ownerId, at: new Date().toISOString() },
      `monitor-deleted:${monitor._id}:${monitor.createdAt.getTime()}`,
    );
  }
}
