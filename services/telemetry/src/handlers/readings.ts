import { randomUUID } from "node:crypto";
import { deviceSubjects, TrellisError } from "@trellis/contracts";
import {
  assertFitsMaxPayload,
  encodeJson,
  isMaxPayloadExceeded,
  jsPublishHeaders,
  traceHeaders,
  withJsRetry,
} from "@trellis/runtime";
import type { TelemetryContext } from "../context.ts";
import { requireWriter } from "../domain/authorization.ts";
import { combineMinutes, planSeries } from "../domain/rollup.ts";
import { bucketGrid, bucketsOf, columnPoints } from "../domain/series.ts";
import { seriesPieces } from "../retention/series-pieces.ts";
import { latestOf } from "../store/monitors.ts";
import { monitorNotFound, readableMonitor } from "./access.ts";
import type { TelemetryHandlers } from "./types.ts";

type ReadingHandlers = Pick<TelemetryHandlers, "submitReading" | "latest" | "history" | "series" | "seriesColumns">;

/** Answer this long before the caller's deadline, so it gets this service's precise error, not its own timeout. */
const answerBeforeDeadlineMs = (deadline: number) => Math.min(250, Math.max(20, (deadline - Date.now()) * 0.1));

export function readingHandlers(t: TelemetryContext): ReadingHandlers {
  const { monitors, readings } = t;

  return {
    /**
     * The same pipeline devices use (JetStream stores it, the ingest consumer writes it), then the
     * answer waits until the round holding this reading is written, whichever instance writes it:
     * a 200 means stored and visible. A retry with the same idempotency key is the same message
     * to JetStream (deduplicated within its window), so it is stored once and waited for again.
     */
    async submitReading({ actor, monitorId, reading, idempotencyKey }, { deadline }) {
      requireWriter(actor, monitorId);
      if (!(await monitors.findSummary(monitorId))) throw monitorNotFound();
      const msgID = idempotencyKey === undefined ? randomUUID() : `${monitorId}:${idempotencyKey}`;
      let ack: { seq: number; duplicate: boolean };
      try {
        // Same message id on a retry: a failover (timeout, no stream leader) neither loses nor doubles it.
        const bytes = encodeJson(reading);
        // With tracing on, the ingest round that stores it links back to this request's trace.
        const headers = traceHeaders();
        assertFitsMaxPayload(t.nc.info?.max_payload, bytes, jsPublishHeaders(msgID, headers));
        const options = headers ? { msgID, headers } : { msgID };
        ack = await withJsRetry(() => t.js.publish(deviceSubjects.readings(monitorId), bytes, options), {
          deadlineMs: Math.max(0, (deadline - Date.now()) / 2),
        });
      } catch (err) {
        if (isMaxPayloadExceeded(err)) {
          throw new TrellisError("payload_too_large", "the reading is too large", { cause: err });
        }
        throw new TrellisError("unavailable", "the readings stream is unavailable", { cause: err });
      }
      const outcome = await t.stored.waitFor(ack.seq, deadline - answerBeforeDeadlineMs(deadline));
      if (outcome.kind === "rejected") throw new TrellisError("invalid_argument", outcome.reason);
      if (outcome.kind === "timeout") {
        throw new TrellisError(
          "deadline_exceeded",
          "the reading was accepted but is not stored yet; it will be stored exactly once (a retry with the same Idempotency-Key waits for it without storing it again)",
        );
      }
      return { stored: true as const, sequence: ack.seq, duplicate: ack.duplicate };
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
      const { pieces } = await seriesPieces(t.tiers, t.rollupDays, monitorId, [measurement], from, to, plan.sizeMs);
      return { interval, points: combineMinutes(pieces.get(measurement) ?? [], plan.sizeMs) };
    },

    async seriesColumns({ actor, monitorId, columns, from, to, interval, fill }) {
      await readableMonitor(monitors, actor, monitorId);
      const plan = planSeries(from, to, interval);
      const measurements = [...new Set(columns.map((c) => c.measurement))];
      const { pieces: minutes } = await seriesPieces(
        t.tiers,
        t.rollupDays,
        monitorId,
        measurements,
        from,
        to,
        plan.sizeMs,
      );
      const grid = bucketGrid(from, to, plan.sizeMs);
      const buckets = new Map(measurements.map((m) => [m, bucketsOf(minutes.get(m) ?? [], plan.sizeMs)]));
      const series = columns.map(({ measurement, aggregate }) => ({
        measurement,
        aggregate,
        points: columnPoints(buckets.get(measurement) ?? new Map(), aggregate, grid, fill),
      }));
      return { interval, fill, series };
    },
  };
}
