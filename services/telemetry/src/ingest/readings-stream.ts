import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { deviceSubjects, READINGS_CONSUMER, READINGS_STREAM } from "@trellis/contracts";
import { type DurableSpec, nanos, type StreamSpec } from "@trellis/runtime";

const DAY_MS = 86_400_000;

/** JetStream refuses a message larger than this; readings carry up to two ~1.5 MB strings. */
export const READINGS_MAX_MSG_BYTES = 4 * 1024 * 1024;
/** A retried publish with the same `Nats-Msg-Id` within this window is stored once. */
export const READINGS_DUPLICATE_WINDOW_MS = 2 * 60_000;

/** The readings stream devices publish to: file-backed, kept `maxAgeDays` whether consumed or not. */
export const readingsStreamSpec = (maxAgeDays: number): StreamSpec => ({
  name: READINGS_STREAM,
  subjects: [deviceSubjects.readingsWildcard],
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  storage: StorageType.File,
  max_age: nanos(maxAgeDays * DAY_MS),
  duplicate_window: nanos(READINGS_DUPLICATE_WINDOW_MS),
  max_msg_size: READINGS_MAX_MSG_BYTES,
});

/** A delivered round not acked within this long is delivered again (a round is written in well under it). */
export const READINGS_ACK_WAIT_MS = 30_000;
/** The least readings delivered and not yet acked, whatever the round size. */
const MIN_ACK_PENDING = 1_000;

/** The ingest consumer every telemetry instance shares: the round in hand, a full round buffered and one pull in flight. */
export const readingsConsumerSpec = (roundSize: number): DurableSpec => ({
  durable_name: READINGS_CONSUMER,
  filter_subject: deviceSubjects.readingsWildcard,
  ack_wait: nanos(READINGS_ACK_WAIT_MS),
  max_ack_pending: Math.max(MIN_ACK_PENDING, roundSize * 3),
});
