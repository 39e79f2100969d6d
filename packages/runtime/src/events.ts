import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { z } from "zod";
import { withJsRetry } from "./js-retry.ts";
import { decodeJson, encodeJson } from "./serve.ts";
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

/**
 * Core NATS notices: hints every instance hears at once (no stream, no ack), for state that also
 * has a slower sure path (a cache's expiry, a poll). Declared like events (`{subject, schema}`),
 * validated on both sides.
 */
export interface NoticePublisher {
  /** Validates and publishes a notice; returns at once (a notice is fire-and-forget). */
  publish<S extends z.ZodType>(notice: EventSpec<S>, payload: z.input<S>): void;
}

export function noticePublisher(nc: NatsConnection): NoticePublisher {
  return {
    publish(notice, payload) {
      nc.publish(notice.subject, encodeJson(notice.schema.parse(payload)));
    },
  };
}

/**
 * Hears every notice of one kind (no queue group: each instance gets each notice); one that does
 * not decode or fit its schema is skipped, with a warning when `log` is given.
 */
export function onNotice<S extends z.ZodType>(
  nc: NatsConnection,
  notice: EventSpec<S>,
  handle: (payload: z.output<S>) => void,
  log?: Logger,
): Subscription {
  return nc.subscribe(notice.subject, {
    callback: (err, msg) => {
      if (err) return;
      let data: unknown;
      try {
        data = decodeJson(msg.data);
      } catch {
        data = undefined;
      }
      const parsed = notice.schema.safeParse(data);
      if (parsed.success) handle(parsed.data);
      else log?.warn({ subject: notice.subject }, "malformed notice ignored");
    },
  });
}
