import { type Principal, TrellisError } from "@trellis/contracts";
import { requireReader } from "../domain/authorization.ts";
import type { MonitorDoc, MonitorsStore } from "../store/monitors.ts";

export const monitorNotFound = () => new TrellisError("not_found", "monitor not found");

/**
 * A monitor the actor may read: its owner or an admin. A non-admin gets `forbidden` for a monitor
 * that is not theirs and for one that does not exist alike (no probing of ids); an admin gets
 * `missing()` for an unknown id.
 */
export async function readableMonitor(
  monitors: MonitorsStore,
  actor: Principal,
  monitorId: string,
  options: { withStrings?: boolean; missing?: () => TrellisError } = {},
): Promise<MonitorDoc> {
  const doc = options.withStrings ? await monitors.findFull(monitorId) : await monitors.findSummary(monitorId);
  requireReader(actor, doc?.ownerId ?? null);
  if (!doc) throw (options.missing ?? monitorNotFound)();
  return doc;
}
