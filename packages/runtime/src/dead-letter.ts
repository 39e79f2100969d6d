import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import {
  DEAD_LETTER_MAX_AGE_DAYS,
  DEAD_LETTER_STREAM,
  DEAD_LETTER_SUBJECTS,
  type DeadLetter,
  type DeadLetterKind,
  type ServiceName,
} from "@trellis/contracts";
import { type Ensured, ensureStream, nanos, type StreamSpec } from "./jetstream.ts";

/** File-backed: a dead letter is the only trace of a message someone may need to replay. */
export const deadLetterStreamSpec: StreamSpec = {
  name: DEAD_LETTER_STREAM,
  subjects: [DEAD_LETTER_SUBJECTS],
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  storage: StorageType.File,
  max_age: nanos(DEAD_LETTER_MAX_AGE_DAYS * 86_400_000),
  // A record published again after a lost ack is stored once (its id is stream + consumer + seq).
  duplicate_window: nanos(2 * 60_000),
};

export const ensureDeadLetterStream = (
  target: NatsConnection | JetStreamManager,
  replicas?: number,
): Promise<Ensured<unknown>> =>
  ensureStream(target, { ...deadLetterStreamSpec, ...(replicas ? { num_replicas: replicas } : {}) });

/** Default cap on the payload copied into a record, well under NATS's `max_payload`. */
export const DEAD_LETTER_MAX_PAYLOAD_BYTES = 1024 * 1024;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The payload as text when it is UTF-8 (the usual JSON case), base64 otherwise; at most `max` bytes of it. */
export function encodePayload(
  data: Uint8Array,
  max: number,
): Pick<DeadLetter, "payload" | "payloadEncoding" | "payloadBytes" | "truncated"> {
  const truncated = data.length > max;
  const kept = truncated ? data.subarray(0, max) : data;
  // A cut may split a multi-byte character: drop up to three bytes of it rather than fall back to base64.
  for (let drop = 0; drop <= (truncated ? Math.min(3, kept.length) : 0); drop++) {
    try {
      const payload = strictUtf8.decode(kept.subarray(0, kept.length - drop));
      return { payload, payloadEncoding: "utf8", payloadBytes: data.length, truncated };
    } catch {
      // not UTF-8 (or not yet, with fewer bytes)
    }
  }
  return {
    payload: Buffer.from(kept).toString("base64"),
    payloadEncoding: "base64",
    payloadBytes: data.length,
    truncated,
  };
}

function headersOf(h: MsgHdrs | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!h) return out;
  for (const key of h.keys()) out[key] = h.values(key);
  return out;
}

export interface DeadLetterSource {
  service: ServiceName;
  stream: string;
  consumer: string;
  subject: string;
  streamSequence: number;
  deliveryCount: number;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
}

export function deadLetterRecord(
  source: DeadLetterSource,
  kind: DeadLetterKind,
  reason: string,
  maxPayloadBytes = DEAD_LETTER_MAX_PAYLOAD_BYTES,
): DeadLetter {
  return {
    service: source.service,
    stream: source.stream,
    consumer: source.consumer,
    subject: source.subject,
    streamSequence: source.streamSequence,
    deliveryCount: source.deliveryCount,
    kind,
    reason,
    ...encodePayload(source.data, maxPayloadBytes),
    headers: headersOf(source.headers),
    at: new Date().toISOString(),
  };
}
