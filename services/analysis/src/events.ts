import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ANALYSIS_EVENTS_MAX_AGE_MS,
  ANALYSIS_EVENTS_STREAM,
  ANALYSIS_EVENTS_SUBJECTS,
  analysisEvents,
} from "@trellis/contracts";
import { encodeJson, nanos, type StreamSpec, traceHeaders } from "@trellis/runtime";
import type { Logger } from "pino";
import type { z } from "zod";

type Events = typeof analysisEvents;

/** The stream analysis events are kept in (ensured at start-up). */
export const analysisEventsStreamSpec = (): StreamSpec => ({
  name: ANALYSIS_EVENTS_STREAM,
  subjects: [ANALYSIS_EVENTS_SUBJECTS],
  max_age: nanos(ANALYSIS_EVENTS_MAX_AGE_MS),
});

/**
 * Publishes an analysis event, validated against its schema, to JetStream on
 * `analysis.v1.events.<analysisId>.<kind>`. Events of one analysis are published in order on one
 * connection, so they are stored in that order; a failed store is logged (the job goes on).
 */
export type PublishEvent = <K extends keyof Events>(kind: K, payload: z.input<Events[K]["schema"]>) => void;

export function analysisEventPublisher(nc: NatsConnection, log: Pick<Logger, "warn">): PublishEvent {
  const js = jetstream(nc);
  return (kind, payload) => {
    const spec = analysisEvents[kind];
    const event = spec.schema.parse(payload);
    // With tracing on, the headers carry the job's trace (to whoever follows the analysis).
    const headers = traceHeaders();
    js.publish(spec.subjectFor(event.analysisId), encodeJson(event), headers ? { headers } : undefined).catch(
      (err: unknown) => log.warn({ err, kind, analysisId: event.analysisId }, "analysis event not stored"),
    );
  };
}
