import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import {
  LIVE_DUPLICATE_WINDOW_MS,
  LIVE_MAX_AGE_MS,
  LIVE_MAX_BYTES,
  LIVE_STREAM,
  liveSubjects,
} from "@trellis/contracts";
import { nanos, type StreamSpec } from "@trellis/runtime";

/**
 * The live events stream (`telemetry.v1.live.>`): every kind of every monitor, kept an hour and
 * bounded in bytes, oldest dropped first. File-backed, so its sequences survive a NATS restart
 * and a client's `Last-Event-ID` stays meaningful.
 */
export const liveStreamSpec = (): StreamSpec => ({
  name: LIVE_STREAM,
  subjects: [liveSubjects.all],
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  storage: StorageType.File,
  max_age: nanos(LIVE_MAX_AGE_MS),
  max_bytes: LIVE_MAX_BYTES,
  duplicate_window: nanos(LIVE_DUPLICATE_WINDOW_MS),
});
