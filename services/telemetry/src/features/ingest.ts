import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { READINGS_CONSUMER, READINGS_STREAM } from "@trellis/contracts";
import type { EventPublisher, HealthCheck } from "@trellis/runtime";
import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import { SettledAckFloor } from "../domain/redelivery.ts";
import type { StoredReading } from "../ingest/live-publisher.ts";
import { ReadingsIngest, type ReadingsIngestOptions } from "../ingest/readings-consumer.ts";
import type { StoredWatch } from "../ingest/stored-watch.ts";

/**
 * How often the ingest consumer's ack floor is read, for pruning the monitors' lists of counted
 * sequences (a stale floor is lower: still safe).
 */
const ACK_FLOOR_REFRESH_MS = 10_000;
/** How old an ack floor must be before counted sequences below it are pruned (see SettledAckFloor). */
const ACK_FLOOR_SETTLE_MS = 20_000;

export interface IngestDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  events: EventPublisher;
  config: Pick<
    TelemetryConfig,
    "INGEST_BATCH_SIZE" | "INGEST_ROUND_SIZE" | "INGEST_MAX_WAIT_MS" | "OFFLINE_AFTER_SECONDS"
  >;
  stores: Pick<Stores, "monitors" | "readings" | "rollups">;
  /** Threshold alarms, evaluated on each round. */
  alarms: NonNullable<ReadingsIngestOptions["alarms"]>;
  /** Each round's stored readings go to the live stream. */
  live: { publishRound(stored: readonly StoredReading[]): void };
  /** Each written round is announced for read-your-writes. */
  stored: Pick<StoredWatch, "notify">;
  /** Monitors a round saw while not online. */
  presence: { seen: NonNullable<ReadingsIngestOptions["onSeenNotOnline"]> };
  log: Logger;
}

export interface Ingest {
  /** Fails while the last round failed (it is redelivered). */
  check: HealthCheck;
  /** Stops pulling and resolves when the rounds in hand are written and acked. */
  stop(): Promise<void>;
}

/** The readings consumer every instance shares: rounds of readings written, aggregated and acked together. */
export async function startIngest(deps: IngestDeps): Promise<Ingest> {
  const { js, jsm, events, config, stores, alarms, live, stored, presence } = deps;
  const ackFloor = new SettledAckFloor(ACK_FLOOR_SETTLE_MS);
  const refreshFloor = () =>
    jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER).then(
      (info) => ackFloor.sample(info.ack_floor.stream_seq, Date.now()),
      () => undefined,
    );
  const floorTimer = setInterval(refreshFloor, ACK_FLOOR_REFRESH_MS);
  floorTimer.unref();
  const ingest = new ReadingsIngest({
    ackFloor: () => ackFloor.value(Date.now()),
    js,
    monitors: stores.monitors,
    readings: stores.readings,
    rollups: stores.rollups,
    events,
    log: deps.log.child({ component: "ingest" }),
    batchSize: config.INGEST_BATCH_SIZE,
    roundSize: Math.max(config.INGEST_ROUND_SIZE, config.INGEST_BATCH_SIZE),
    maxWaitMs: config.INGEST_MAX_WAIT_MS,
    alarms,
    onRoundDone: (seqs, rejected) => stored.notify(seqs, rejected),
    onStored: (readings) => live.publishRound(readings),
    offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
    onSeenNotOnline: (seen) => presence.seen(seen),
  });
  try {
    await ingest.start();
  } catch (err) {
    clearInterval(floorTimer);
    throw err;
  }
  return {
    check: async () => {
      if (ingest.lastError) throw new Error(`last readings batch failed: ${ingest.lastError.message}`);
    },
    async stop() {
      await ingest.stop();
      clearInterval(floorTimer);
    },
  };
}
