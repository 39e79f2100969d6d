import { randomUUID } from "node:crypto";
import { deviceSubjects, TrellisError } from "@trellis/contracts";
import { encodeJson } from "@trellis/runtime";
import type { TelemetryContext } from "../context.ts";
import { requireWriter } from "../domain/authorization.ts";
import { checkReading } from "../domain/reading.ts";
import { combineMinutes, planSeries } from "../domain/rollup.ts";
import { latestOf } from "../store/monitors.ts";
import { readableMonitor } from "./access.ts";
import type { TelemetryHandlers } from "./types.ts";

type ReadingHandlers = Pick<TelemetryHandlers, "submitReading" | "latest" | "history" | "series">;

export const invalidMonitorId = () => new TrellisError("invalid_argument", "monitor_id is invalid");

export function readingHandlers(t: TelemetryContext): ReadingHandlers {
  const { monitors, readings, rollups } = t;

  return {
    async submitReading({ actor, monitorId, reading }) {
      requireWriter(actor, monitorId);
      if (!(await monitors.findSummary(monitorId))) throw invalidMonitorId();
      const check = checkReading(reading);
      if (!check.ok) throw new TrellisError("invalid_argument", check.reason);
      // The same pipeline devices use: JetStream stores it, the ingest consumer writes it.
      try {
        const ack = await t.js.publish(deviceSubjects.readings(monitorId), encodeJson(check.reading), {
          msgID: randomUUID(),
        });
        return { accepted: true as const, sequence: ack.seq };
      } catch (err) {
        if (/max.?payload|maximum payload|message size/i.test((err as Error).message)) {
          throw new TrellisError("payload_too_large", "the reading is too large", { cause: err });
        }
        throw new TrellisError("unavailable", "the readings stream is unavailable", { cause: err });
      }
    },

    async latest({ actor, monitorId }) {
      const latest = latestOf(await readableMonitor(monitors, actor, monitorId, { withStrings: true }));
      // Only the measurements ever received have a latest value.
      return { values: latest.values, foliage_feed: latest.foliage_feed, root_stream: latest.root_stream };
    },

    async history({ actor, monitorId, from, to, limit, after }) {
      await readableMonitor(monitors, actor, monitorId);
      const page = await readings.page(monitorId, { from, to }, limit + 1, after);
      let docs = page.slice(0, limit);
      const next = page[limit];
      const last = docs.at(-1);
      if (next && last && next.at === last.at) {
        // `nextAfter` is a time: end the page before the readings that share the boundary's
        // millisecond, so the next page starts with all of them (unless the page is only that ms).
        const cut = docs.findIndex((d) => d.at === last.at);
        if (cut > 0) docs = docs.slice(0, cut);
      }
      // Partial records: a reading carries only the measurements the device sent.
      const items = docs.map((d) => ({ at: d.at, values: d.values }));
      return { items, nextAfter: next ? (items.at(-1)?.at ?? null) : null };
    },

    async series({ actor, monitorId, measurement, from, to, interval }) {
      await readableMonitor(monitors, actor, monitorId);
      const plan = planSeries(from, to, interval);
      const minutes = await rollups.minutes(monitorId, measurement, plan.fromMinute, plan.toMinute);
      return { interval, points: combineMinutes(minutes, plan.sizeMs) };
    },
  };
}
