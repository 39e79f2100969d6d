import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { deviceSubjects, READINGS_STREAM } from "@trellis/contracts";
import { nanos, type StreamSpec } from "@trellis/runtime";

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
