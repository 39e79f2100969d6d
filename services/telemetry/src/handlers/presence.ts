import type { TelemetryContext } from "../context.ts";
import { monitorNotFound, readableMonitor } from "./access.ts";
import { monitorView } from "./monitor-view.ts";
import type { TelemetryHandlers } from "./types.ts";

export type PresenceHandlers = Pick<TelemetryHandlers, "updateMonitorSettings">;

export function presenceHandlers(
  t: Pick<TelemetryContext, "monitors" | "presence" | "offlineAfterSeconds">,
): PresenceHandlers {
  return {
    /** The owner or an admin (as for reading the monitor: another user's monitor is `not_found`, as an unknown one). */
    async updateMonitorSettings({ actor, monitorId, change }) {
      await readableMonitor(t.monitors, actor, monitorId);
      const doc = await t.presence.updateSettings(monitorId, change, t.offlineAfterSeconds);
      if (!doc) throw monitorNotFound();
      return monitorView(doc);
    },
  };
}
