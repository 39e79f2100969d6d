import type { TelemetryContext } from "../context.ts";
import { requireAdmin, requireUser } from "../domain/authorization.ts";
import { v1TimeToMs } from "../domain/timestamps.ts";
import { v1MonitorJson } from "../domain/v1-shape.ts";
import { latestOf, type MonitorDoc } from "../store/monitors.ts";
import type { TimeWindow } from "../store/readings.ts";
import { readableMonitor } from "./access.ts";
import type { TelemetryHandlers } from "./types.ts";

/**
 * History readings per monitor in a v1 reply. Without `startTime`/`endTime` the reply holds the
 * most recent 10,000 readings of each monitor; with a window, the most recent 100,000 in it (a
 * bound on reply size; seed 002 clients page by time windows).
 */
export const V1_HISTORY_LIMIT = 10_000;
export const V1_WINDOW_LIMIT = 100_000;

type CompatV1Handlers = Pick<TelemetryHandlers, "v1Get">;

export function compatV1Handlers(t: TelemetryContext): CompatV1Handlers {
  const { monitors, readings } = t;

  /** One monitor's seed 002 JSON (`V1MonitorData`, plus `owner` in the all-monitors view). */
  const dataOf = async (doc: MonitorDoc, window: TimeWindow, owner?: string): Promise<string> => {
    const filtered = window.from !== undefined || window.to !== undefined;
    const points = await readings.newest(doc._id, window, filtered ? V1_WINDOW_LIMIT : V1_HISTORY_LIMIT);
    return v1MonitorJson(latestOf(doc), points, owner === undefined ? undefined : { owner });
  };

  /**
   * Every monitor, keyed by id: written one monitor at a time as the receiver asks for more, so
   * memory holds one monitor's data however many there are.
   */
  async function* allMonitors(window: TimeWindow): AsyncGenerator<string> {
    yield "{";
    let first = true;
    for await (const { _id } of monitors.eachId()) {
      const doc = await monitors.findFull(_id);
      if (!doc) continue; // deleted since the listing started
      yield `${first ? "" : ","}${JSON.stringify(doc._id)}:${await dataOf(doc, window, doc.ownerId)}`;
      first = false;
    }
    yield "}";
  }

  return {
    /** Seed 002 `monitors/get`: users and admins only; every monitor only for an admin. */
    async v1Get({ actor, monitorId, startTime, endTime }) {
      requireUser(actor);
      // `startTime`/`endTime` are inclusive; values below 1e11 are seconds (old clients), see v1TimeToMs.
      const window: TimeWindow = {
        from: startTime === undefined ? undefined : v1TimeToMs(startTime),
        to: endTime === undefined ? undefined : v1TimeToMs(endTime),
      };
      if (monitorId === undefined) {
        requireAdmin(actor);
        return { meta: {}, body: allMonitors(window) };
      }
      // Seed 002: a user gets 403 for a monitor that is not theirs or does not exist (no probing of ids).
      const doc = await readableMonitor(monitors, actor, monitorId, { withStrings: true, v1: true });
      const json = await dataOf(doc, window);
      return { meta: {}, body: [json] };
    },
  };
}
