import type { JetStreamClient } from "@nats-io/jetstream";
import { type LiveReading, liveSubjects } from "@trellis/contracts";
import { withJsRetry } from "@trellis/runtime";
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
 * Publishes each stored reading of an ingest round to `telemetry.v1.live.<monitorId>.reading`,
 * which the stream `TELEMETRY_LIVE` captures, without the ingest loop waiting for anything.
 *
 * JetStream publishes with acks, pipelined (not awaited by ingest; one connection keeps them in
 * order). Core NATS publishes were cheaper (no ack to parse: ~25 µs of telemetry CPU per reading)
 * but unacknowledged, and under load the server dropped some of a round's burst: bench:telemetry's
 * live section saw 1,506 of 15,000 readings missing from the stream, i.e. gaps in what an SSE
 * client resuming with Last-Event-ID is promised. A publish that fails is retried (its
 * `Nats-Msg-Id` dedupes one that was in fact stored); one that still fails is logged and counted.
 */
export class LivePublisher {
  private readonly js: JetStreamClient;
  private readonly log: Logger;
  private readonly encoder = new TextEncoder();
  private readonly inFlight = new Set<Promise<void>>();
  /** Readings that could not be published after retries, since start. */
  failed = 0;

  constructor(js: JetStreamClient, log: Logger) {
    this.js = js;
    this.log = log;
  }

  publishRound(stored: readonly StoredReading[]): void {
    for (const r of stored) {
      const p = this.publish(r).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** Waits for the publishes in flight (shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async publish(r: StoredReading): Promise<void> {
    const bytes = this.encoder.encode(JSON.stringify(liveReadingOf(r)));
    const msgID = liveReadingMsgId(r);
    try {
      // Retried through a failover (no stream leader for a few seconds), within the duplicate window.
      await withJsRetry(() => this.js.publish(liveSubjects.of(r.monitorId, "reading"), bytes, { msgID }), {
        deadlineMs: 30_000,
      });
    } catch (err) {
      this.failed += 1;
      this.log.warn({ err, monitorId: r.monitorId, seq: r.seq, failed: this.failed }, "live reading not published");
    }
  }
}
