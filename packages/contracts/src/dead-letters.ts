import { z } from "zod";
import { ServiceName } from "./services.ts";

/**
 * Messages a durable consumer gave up on (poison messages, or retries exhausted) are recorded in
 * this JetStream stream, one subject per consumer, so nothing is dropped without a trace and an
 * operator can inspect or replay them.
 */
export const DEAD_LETTER_STREAM = "DEAD_LETTERS";
export const DEAD_LETTER_SUBJECTS = "deadletter.>";
/** Kept this long, then discarded. */
export const DEAD_LETTER_MAX_AGE_DAYS = 30;

/** `deadletter.<service>.<consumer>`: a consumer's durable name is a valid subject token. */
export const deadLetterSubject = (service: ServiceName, consumer: string): string =>
  `deadletter.${service}.${consumer}`;

/** Why a message was given up on. */
export const DeadLetterKind = z.enum([
  /** The payload is not JSON. */
  "invalid_json",
  /** The payload is JSON but violates the message's schema. */
  "schema_violation",
  /** The handler said the message can never be handled (a non-retryable error). */
  "unrecoverable",
  /** The handler kept failing until the consumer's `max_deliver` attempts were used up. */
  "max_deliver",
]);
export type DeadLetterKind = z.infer<typeof DeadLetterKind>;

/** One dead-lettered message, with enough to understand and replay it. */
export const DeadLetter = z.object({
  service: ServiceName,
  stream: z.string(),
  consumer: z.string(),
  /** The original message's subject. */
  subject: z.string(),
  streamSequence: z.number().int().nonnegative(),
  deliveryCount: z.number().int().positive(),
  kind: DeadLetterKind,
  reason: z.string(),
  /** The original payload: as text when it is UTF-8, base64 otherwise. */
  payload: z.string(),
  payloadEncoding: z.enum(["utf8", "base64"]),
  /** Size of the original payload; `payload` holds at most a prefix of it when `truncated`. */
  payloadBytes: z.number().int().nonnegative(),
  truncated: z.boolean(),
  headers: z.record(z.string(), z.array(z.string())),
  at: z.iso.datetime(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;
