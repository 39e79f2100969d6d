import type { JetStreamClient } from "@nats-io/jetstream";
import { type LiveReading, liveSubjects } from "@trellis/contracts";
import type { Logger } from "pino";
import type { NormalizedReading } from "../domain/reading.ts";

/** A reading an ingest round has stored: its monitor, its readings-stream sequence, the reading. */
export interface StoredReading {
  monitorId: string;
  seq: number;
  reading: NormalizedReading;
}

/** The live event of a stored reading: numbers only; string fields are named, not carried. */
export function liveReadingOf(r: StoredReading): LiveReading {
  const strings: LiveReading["strings"] = [];
  if (r.reading.foliage_feed !== undefined) strings.push("foliage_feed");
  if (r.reading.root_stream !== undefined) strings.push("root_stream");
  return { monitorId: r.monitorId, readingSeq: r.seq, at: r.reading.at, values: r.reading.values, strings };
}

/** The message id of a reading's live event: a round redelivered after a failure is published once. */
export const liveReadingMsgId = (r: StoredReading): string => `reading:${r.monitorId}:${r.seq}`;

/**
 * Publishes each stored reading of an ingest round to `telemetry.v1.live.<monitorId>.reading`
 * (stream `TELEMETRY_LIVE`), after the round is acked and without the ingest loop waiting: the
 * publishes of a round are all in flight at once and their acks are counted in the background.
 *
 * The live stream is a view of data already stored, so it never holds ingest back: while more
 * than `maxInFlight` publishes are unacknowledged (JetStream slow or away), a round's readings
 * are left out of the live stream (counted and logged), and ingest goes on.
 */
export class LivePublisher {
  private inFlight = 0;
  private readonly encoder = new TextEncoder();
  /** Readings left out of the live stream, and publishes that failed, since start. */
  skipped = 0;
  failed = 0;

  private readonly js: JetStreamClient;
  private readonly log: Logger;
  private readonly maxInFlight: number;

  constructor(js: JetStreamClient, log: Logger, maxInFlight = 20_000) {
    this.js = js;
    this.log = log;
    this.maxInFlight = maxInFlight;
  }

  publishRound(stored: readonly StoredReading[]): void {
    if (stored.length === 0) return;
    if (this.inFlight + stored.length > this.maxInFlight) {
      this.skipped += stored.length;
      this.log.warn(
        { readings: stored.length, inFlight: this.inFlight, skipped: this.skipped },
        "live stream behind: a round's readings left out of it",
      );
      return;
    }
    this.inFlight += stored.length;
    const publishes = stored.map((r) =>
      this.js.publish(liveSubjects.of(r.monitorId, "reading"), this.encoder.encode(JSON.stringify(liveReadingOf(r))), {
        msgID: liveReadingMsgId(r),
      }),
    );
    void Promise.allSettled(publishes).then((results) => {
      this.inFlight -= stored.length;
      const failures = results.filter((x) => x.status === "rejected");
      if (failures.length === 0) return;
      this.failed += failures.length;
      this.log.warn(
        { failed: failures.length, of: stored.length, err: (failures[0] as PromiseRejectedResult).reason },
        "live readings not published",
      );
    });
  }
}
