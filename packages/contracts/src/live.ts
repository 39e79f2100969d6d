import { z } from "zod";
import { MonitorId } from "./identity.ts";
import { lastTokenOf, subject } from "./services.ts";
import { Measurement } from "./telemetry.ts";

/**
 * Live events of monitors (issue 11): `telemetry.v1.live.<monitorId>.<kind>`, captured by the
 * JetStream stream `TELEMETRY_LIVE`, read back per monitor (or for many monitors) by the gateway's
 * live SSE routes, whose `event:` is the kind and `id:` the stream sequence.
 *
 * Kinds: `reading` (each stored reading, published by telemetry after its ingest round), `alarm`
 * and `presence` (published by the alarm and offline-detection features with their own schemas).
 * The SSE routes forward every kind of the caller's monitors, whatever its schema.
 */
export const LIVE_STREAM = "TELEMETRY_LIVE";
export const LIVE_KINDS = ["reading", "alarm", "presence"] as const;
export const LiveKind = z.enum(LIVE_KINDS);
export type LiveKind = z.infer<typeof LiveKind>;

const prefix = subject("telemetry", 1, "live");

export const liveSubjects = {
  /** Where one kind of one monitor's live events is published. */
  of: (monitorId: string, kind: LiveKind): string => `${prefix}.${monitorId}.${kind}`,
  /** Every kind of one monitor's live events (a consumer's filter subject). */
  monitor: (monitorId: string): string => `${prefix}.${monitorId}.>`,
  /** Every monitor's live events: what `TELEMETRY_LIVE` captures. */
  all: `${prefix}.>`,
  /** The kind of a live subject (its last token). */
  kindOf: (subj: string): string => lastTokenOf(subj),
} as const;

/** `TELEMETRY_LIVE` keeps events this long (resuming after a longer absence starts at the oldest kept). */
export const LIVE_MAX_AGE_MS = 60 * 60_000;
/** ... and at most this many bytes (oldest discarded first). */
export const LIVE_MAX_BYTES = 512 * 1024 * 1024;
/** A republished event (same `Nats-Msg-Id`) within this window is stored once. */
export const LIVE_DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * A stored reading as the live stream carries it (`event: reading`). The numeric measurements
 * only: the string fields (base64 images up to 1.5 MB) are named in `strings`, and read with
 * `GET /api/v2/monitors/{id}/readings/latest`, so a live stream stays light.
 */
export const LiveReading = z.object({
  monitorId: MonitorId,
  /** The reading's sequence in the readings stream (`TELEMETRY_READINGS`). */
  readingSeq: z.number().int().nonnegative(),
  /** The reading's time (ms since the epoch): the device's `timestamp`, else when it was received. */
  at: z.number().int(),
  values: z.partialRecord(Measurement, z.number()),
  /** Which string fields the reading had (`foliage_feed`, `root_stream`). */
  strings: z.array(z.enum(["foliage_feed", "root_stream"])),
});
export type LiveReading = z.infer<typeof LiveReading>;
