import { headers, type NatsConnection } from "@nats-io/transport-node";
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
 * Publishes each stored reading of an ingest round to `telemetry.v1.live.<monitorId>.reading`,
 * which the stream `TELEMETRY_LIVE` captures, once the round is acked, without the ingest loop
 * waiting for anything.
 *
 * Core NATS publishes, not JetStream publish-with-ack: the stream stores them all the same (and
 * honours `Nats-Msg-Id`), and a JetStream publish costs a request, a timer and an ack to parse per
 * reading, which at ingest rates is a share of telemetry's CPU that ingest would lose. The price:
 * a publish the server does not store (the stream missing, the server failing) goes unnoticed.
 * The live stream is a view of readings that are already stored, so that is a gap in a view,
 * never lost data; the SSE client sees it as an event it never receives.
 */
export class LivePublisher {
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly encoder = new TextEncoder();
  /** Readings that could not be published (the connection refused them), since start. */
  failed = 0;

  constructor(nc: NatsConnection, log: Logger) {
    this.nc = nc;
    this.log = log;
  }

  publishRound(stored: readonly StoredReading[]): void {
    let i = 0;
    try {
      for (; i < stored.length; i++) {
        const r = stored[i] as StoredReading;
        const h = headers();
        h.set("Nats-Msg-Id", liveReadingMsgId(r));
        this.nc.publish(
          liveSubjects.of(r.monitorId, "reading"),
          this.encoder.encode(JSON.stringify(liveReadingOf(r))),
          {
            headers: h,
          },
        );
      }
    } catch (err) {
      // Closed or draining connection, or the reconnect buffer full: the rest of the round is left out.
      this.failed += stored.length - i;
      this.log.warn({ err, left: stored.length - i, failed: this.failed }, "live readings not published");
    }
  }
}
