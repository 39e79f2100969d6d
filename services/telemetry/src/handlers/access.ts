import type { Principal, TrellisError } from "@trellis/contracts";
import { monitorNotFound, requireReader, requireReaderV1 } from "../domain/authorization.ts";
import type { MonitorDoc, MonitorsStore } from "../store/monitors.ts";

export { monitorNotFound } from "../domain/authorization.ts";

/**
 * A monitor the actor may read: its owner or an admin. A non-admin gets `not_found` for a monitor
 * that is not theirs and for one that does not exist alike (no probing of ids; `v1: true` answers
 * seed 002's `forbidden` instead); an admin gets `missing()` for an unknown id; a monitor token is
 * `forbidden`.
 */
export async function readableMonitor(
  monitors: MonitorsStore,
  actor: Principal,
  monitorId: string,
  options: { withStrings?: boolean; missing?: () => TrellisError; v1?: boolean } = {},
): Promise<MonitorDoc> {
  const doc = options.withStrings ? await monitors.findFull(monitorId) : await monitors.findSummary(monitorId);
  (options.v1 ? requireReaderV1 : requireReader)(actor, doc?.ownerId ?? null);
  if (!doc) throw (options.missing ?? monitorNotFound)();
  return doc;
}
