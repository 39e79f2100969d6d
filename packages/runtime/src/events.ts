import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { withJsRetry } from "./js-retry.ts";
import { encodeJson } from "./serve.ts";
import { inSpan, natsAttributes, SpanKind, traceHeaders, tracingEnabled } from "./tracing.ts";

/** A durable event: its subject and payload schema, declared in the contracts. */
export interface EventSpec<S extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly schema: S;
}

export interface EventPublisher {
  /**
   * Validates and publishes an event to JetStream and waits for the stream's ack. `id` becomes the
   * `Nats-Msg-Id`, so a retried publish is stored once: with an id, a transient failure (a timeout,
   * no stream leader during a failover) is retried with backoff for up to 10 s. Core subscribers
   * receive it as well.
   */
  publish<S extends z.ZodType>(event: EventSpec<S>, payload: z.input<S>, id?: string): Promise<void>;
}

export function eventPublisher(nc: NatsConnection): EventPublisher {
  const js: JetStreamClient = jetstream(nc);
  const send = async (subject: string, bytes: Uint8Array, id: string | undefined, headers: MsgHdrs | undefined) => {
    const options = { ...(id ? { msgID: id } : {}), ...(headers ? { headers } : {}) };
    if (id) await withJsRetry(() => js.publish(subject, bytes, options), { deadlineMs: 10_000 });
    else await js.publish(subject, bytes, options);
  };
  return {
    async publish(event, payload, id) {
      const data = event.schema.parse(payload);
      const bytes = encodeJson(data);
      if (!tracingEnabled()) return send(event.subject, bytes, id, undefined);
      // A producer span; the message carries its context, so consumers' spans are its children.
      return inSpan(
        `publish ${event.subject}`,
        { kind: SpanKind.PRODUCER, attributes: natsAttributes(event.subject, "send") },
        () => send(event.subject, bytes, id, traceHeaders()),
      );
    },
  };
}
