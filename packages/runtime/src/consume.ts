import { type ConsumerMessages, type JsMsg, jetstream } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import {
  type DeadLetterKind,
  deadLetterSubject,
  invalidArgument,
  isTrellisError,
  type ServiceName,
} from "@trellis/contracts";
import { type Logger, pino } from "pino";
import type { z } from "zod";
import { DEAD_LETTER_MAX_PAYLOAD_BYTES, deadLetterRecord, ensureDeadLetterStream } from "./dead-letter.ts";
import { withJsRetry } from "./js-retry.ts";
import { consumerMetrics, sampleConsumerMetrics, secondsSince } from "./metrics.ts";
import { encodeJson } from "./serve.ts";
import { contextFromHeaders, inSpan, natsAttributes, SpanKind } from "./tracing.ts";

/**
 * Thrown by a handler for a message that can never be handled, however often it is retried: the
 * message is terminated and dead-lettered at once. (A `TrellisError` whose `retryable` is false
 * has the same effect.)
 */
export class PoisonMessageError extends Error {
  override readonly name = "PoisonMessageError";
}

/** Redelivery delays after a retryable failure: `delayMs × factor^(deliveries − 1)`, at most `maxDelayMs`. */
export interface RetryPolicy {
  delayMs: number;
  /** Default 2. */
  factor?: number;
  /** Default 60 s. */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { delayMs: 1_000, factor: 2, maxDelayMs: 60_000 };

/**
 * Retry policies shared by consumers in several services, by name (one table, so the services
 * that follow the same event cannot drift apart).
 */
export const RETRY_POLICIES = {
  default: DEFAULT_RETRY,
  /** Removing a deleted user's data (`user_deleted` in media and telemetry): a store outage is waited out calmly. */
  userDeleted: { delayMs: 5_000, maxDelayMs: 60_000 },
} as const satisfies Record<string, RetryPolicy>;

/** What the loop knows about a delivery when it decides. */
export interface Delivery {
  /** 1 on the first delivery. */
  deliveryCount: number;
  /** The consumer's `max_deliver`; zero or negative means unlimited. */
  maxDeliver: number;
}

/** How handling one delivery went. */
export type Attempt =
  | { ok: true }
  | { ok: false; kind: "invalid_json" | "schema_violation"; reason: string }
  | { ok: false; kind: "handler"; error: unknown };

/** What to tell JetStream. `term` always comes with a dead-letter record of `kind`. */
export type Outcome =
  | { action: "ack" }
  | { action: "nak"; delayMs: number; reason: string }
  | { action: "term"; kind: DeadLetterKind; reason: string };

const failureOf = (attempt: Attempt): unknown =>
  !attempt.ok && attempt.kind === "handler" ? attempt.error : undefined;
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Whether a handler failure may succeed on another attempt. A `TrellisError` says so itself,
 * except `internal`: that is our side failing (a bug, or an outage another service reported as
 * internal), not the message, so it is retried like any unexpected exception, within `max_deliver`.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof PoisonMessageError) return false;
  if (isTrellisError(err)) return err.retryable || err.code === "internal";
  return true;
}

/** The delay before the next delivery; a `retryAfterSeconds` hint on the error is honoured when longer. */
export function retryDelayMs(deliveryCount: number, policy: RetryPolicy, err?: unknown): number {
  const { delayMs, factor = 2, maxDelayMs = 60_000 } = policy;
  const backoff = Math.min(maxDelayMs, delayMs * factor ** Math.max(0, deliveryCount - 1));
  const hint = isTrellisError(err) ? (err.details?.retryAfterSeconds ?? 0) * 1_000 : 0;
  return Math.round(Math.max(backoff, hint));
}

export const isLastAttempt = (d: Delivery): boolean => d.maxDeliver > 0 && d.deliveryCount >= d.maxDeliver;

/** The whole policy, as a pure function: ack, retry later, or give up (term + dead letter). */
export function decide(attempt: Attempt, delivery: Delivery, retry: RetryPolicy): Outcome {
  if (attempt.ok) return { action: "ack" };
  if (attempt.kind !== "handler") return { action: "term", kind: attempt.kind, reason: attempt.reason };
  const reason = messageOf(attempt.error);
  if (!isRetryable(attempt.error)) return { action: "term", kind: "unrecoverable", reason };
  if (isLastAttempt(delivery)) {
    return {
      action: "term",
      kind: "max_deliver",
      reason: `failed on all ${delivery.deliveryCount} deliveries; last error: ${reason}`,
    };
  }
  return { action: "nak", delayMs: retryDelayMs(delivery.deliveryCount, retry, attempt.error), reason };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes and validates a payload; never throws. */
export function parseMessage<S extends z.ZodType>(
  data: Uint8Array,
  schema: S,
): { ok: true; value: z.output<S> } | { ok: false; kind: "invalid_json" | "schema_violation"; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(data));
  } catch {
    return { ok: false, kind: "invalid_json", reason: "payload is not valid JSON" };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, kind: "schema_violation", reason: invalidArgument(parsed.error, "message").message };
  }
  return { ok: true, value: parsed.data };
}

export interface MessageContext {
  /** Stream sequence. */
  readonly seq: number;
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** No retry follows if this attempt fails (the consumer's `max_deliver` is reached). */
  readonly lastAttempt: boolean;
  /** The consumer's logger with `seq` and `deliveryCount`; silent when none was given. */
  readonly log: Logger;
}

export type MessageHandler<T> = (payload: T, ctx: MessageContext) => Promise<void> | void;

export interface ConsumeSpec<S extends z.ZodType> {
  /** Names the dead-letter subject: `deadletter.<service>.<consumer>`. */
  service: ServiceName;
  stream: string;
  /** Durable name of an existing pull consumer (see `ensureDurableConsumer`). */
  consumer: string;
  schema: S;
  handler: MessageHandler<z.output<S>>;
  retry?: RetryPolicy;
  /**
   * Messages pulled ahead of the one in hand (default 10). Small, because handling is one at a
   * time and a buffered message's ack wait is already running.
   */
  maxMessages?: number;
  log?: Logger;
  /** Replicas of the dead-letter stream when this creates it: the service's `JETSTREAM_REPLICAS` (default 1). */
  replicas?: number;
  /** Most payload bytes copied into a dead-letter record (default 1 MiB). */
  deadLetterMaxPayloadBytes?: number;
  /**
   * How often the consumer's pending and redelivered counts are read for the metrics (default
   * 5 s); only while this process serves metrics.
   */
  metricsSampleMs?: number;
}

export interface DurableConsumer {
  /** Stops pulling and resolves once the message in hand is settled (acked, retried or dead-lettered). Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended: with the error that ended it, or undefined after `stop()`. */
  closed(): Promise<Error | undefined>;
}

/**
 * A typed durable consumer loop: each message is decoded as JSON and validated against `schema`,
 * then handed to `handler`, one at a time. Handler resolves → ack. Handler throws a retryable
 * error → nak with a delay that grows with the delivery count. A poison message (not JSON, against
 * the schema, or a non-retryable handler error) or the last allowed delivery failing → a record in
 * the dead-letter stream, then term. Ensures the dead-letter stream exists; the consumer itself
 * must exist (`ensureDurableConsumer`).
 */
export async function consume<S extends z.ZodType>(nc: NatsConnection, spec: ConsumeSpec<S>): Promise<DurableConsumer> {
  const log = (spec.log ?? pino({ level: "silent" })).child({ stream: spec.stream, consumer: spec.consumer });
  const retry = spec.retry ?? DEFAULT_RETRY;
  const js = jetstream(nc);
  for (const w of (await ensureDeadLetterStream(nc, spec.replicas)).warnings) {
    log.warn({ field: w.field, wanted: w.wanted, actual: w.actual }, w.message);
  }
  const consumer = await withJsRetry(() => js.consumers.get(spec.stream, spec.consumer));
  const { config } = await withJsRetry(() => consumer.info(true));
  const maxDeliver = config.max_deliver ?? -1;
  // Long handlers tell JetStream they are still working, well before the ack wait runs out.
  const workingEveryMs = Math.max(1_000, (config.ack_wait ?? 30_000_000_000) / 1_000_000 / 2);
  const dlSubject = deadLetterSubject(spec.service, spec.consumer);

  const deadLetter = async (msg: JsMsg, kind: DeadLetterKind, reason: string): Promise<void> => {
    const record = deadLetterRecord(
      {
        service: spec.service,
        stream: spec.stream,
        consumer: spec.consumer,
        subject: msg.subject,
        streamSequence: msg.seq,
        deliveryCount: msg.info.deliveryCount,
        data: msg.data,
        headers: msg.headers,
      },
      kind,
      reason,
      spec.deadLetterMaxPayloadBytes ?? DEAD_LETTER_MAX_PAYLOAD_BYTES,
    );
    // Not retried here: a failure naks the message, and its redelivery (with backoff) is the retry.
    await js.publish(dlSubject, encodeJson(record), { msgID: `${spec.stream}.${spec.consumer}.${msg.seq}` });
  };

  const labels = { stream: spec.stream, consumer: spec.consumer };
  const handled = {
    ack: consumerMetrics.handled.with({ ...labels, outcome: "ack" }),
    nak: consumerMetrics.handled.with({ ...labels, outcome: "nak" }),
    term: consumerMetrics.handled.with({ ...labels, outcome: "term" }),
  };
  const handledSeconds = consumerMetrics.handledSeconds.with(labels);
  const stopSampling = sampleConsumerMetrics(consumer, labels, { log, everyMs: spec.metricsSampleMs });

  const handle = async (msg: JsMsg): Promise<void> => {
    const started = performance.now();
    const outcome = await settle(msg);
    handled[outcome].inc();
    handledSeconds.observe(secondsSince(started));
  };

  const settle = async (msg: JsMsg): Promise<Outcome["action"]> => {
    const delivery: Delivery = { deliveryCount: msg.info.deliveryCount, maxDeliver };
    const msgLog = log.child({ seq: msg.seq, deliveryCount: delivery.deliveryCount });
    let attempt: Attempt;
    const parsed = parseMessage(msg.data, spec.schema);
    if (!parsed.ok) {
      attempt = parsed;
    } else {
      const timer = setInterval(() => msg.working(), workingEveryMs);
      try {
        // A consumer span per delivery, a child of the publisher's (the message's `traceparent`).
        await inSpan(
          `process ${msg.subject}`,
          {
            kind: SpanKind.CONSUMER,
            parent: contextFromHeaders(msg.headers),
            attributes: {
              ...natsAttributes(msg.subject, "process"),
              "messaging.consumer.group.name": spec.consumer,
              "messaging.nats.stream": spec.stream,
              "messaging.nats.delivery_count": delivery.deliveryCount,
            },
          },
          async () =>
            spec.handler(parsed.value, {
              seq: msg.seq,
              subject: msg.subject,
              headers: msg.headers,
              deliveryCount: delivery.deliveryCount,
              lastAttempt: isLastAttempt(delivery),
              log: msgLog,
            }),
        );
        attempt = { ok: true };
      } catch (error) {
        attempt = { ok: false, kind: "handler", error };
      } finally {
        clearInterval(timer);
      }
    }

    const outcome = decide(attempt, delivery, retry);
    switch (outcome.action) {
      case "ack":
        msg.ack();
        msgLog.debug("message handled");
        return "ack";
      case "nak":
        msgLog.warn({ err: failureOf(attempt), delayMs: outcome.delayMs }, "message handling failed; will retry");
        msg.nak(outcome.delayMs);
        return "nak";
      case "term":
        try {
          await deadLetter(msg, outcome.kind, outcome.reason);
        } catch (err) {
          // Without its record the message must not vanish: leave it to be redelivered (unless
          // this was the last delivery JetStream allows; then it stays in the stream, unacked).
          msgLog.error({ err, kind: outcome.kind, reason: outcome.reason }, "dead-lettering failed; message kept");
          msg.nak(retryDelayMs(delivery.deliveryCount, retry));
          return "nak";
        }
        msg.term(outcome.reason.slice(0, 200));
        msgLog.error(
          { err: failureOf(attempt), kind: outcome.kind, reason: outcome.reason, deadLetter: dlSubject },
          "message dead-lettered",
        );
        return "term";
    }
  };

  let stopping = false;
  // Pulls of 10 s (heartbeats every 5 s): a consumer leader lost with its NATS node is noticed and
  // pulled from again on the new leader after ~10 s of silence rather than nats.js's default ~30 s.
  const messages: ConsumerMessages = await consumer.consume({ max_messages: spec.maxMessages ?? 10, expires: 10_000 });
  const done = (async (): Promise<Error | undefined> => {
    try {
      for await (const msg of messages) {
        // Pulled but not started when stop() came: hand it to another instance now.
        if (stopping) msg.nak();
        else await handle(msg).catch((err) => log.error({ err, seq: msg.seq }, "settling a message failed"));
      }
      return undefined;
    } catch (err) {
      log.error({ err }, "durable consumer loop ended");
      return err as Error;
    }
  })();

  void done.then(() => stopSampling());

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        stopSampling();
        await Promise.allSettled([messages.close(), done]);
        // Acks are fire-and-forget publishes: a flush makes sure the server has them.
        await nc.flush().catch(() => {});
      })();
      return stopped;
    },
    closed: () => done,
  };
}
