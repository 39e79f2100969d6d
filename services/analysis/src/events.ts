import type { NatsConnection } from "@nats-io/transport-node";
import { analysisEvents } from "@trellis/contracts";
import { encodeJson } from "@trellis/runtime";
import type { z } from "zod";

type Events = typeof analysisEvents;

/** Publishes a live analysis event on core NATS, validated against its schema. */
export type PublishEvent = <K extends keyof Events>(kind: K, payload: z.input<Events[K]["schema"]>) => void;

export function eventPublisher(nc: NatsConnection): PublishEvent {
  return (kind, payload) => {
    const spec = analysisEvents[kind];
    nc.publish(spec.subject, encodeJson(spec.schema.parse(payload)));
  };
}
