import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { deviceSubjects, READINGS_CONSUMER, READINGS_STREAM, telemetryEvents } from "@trellis/contracts";
import {
  type EventPublisher,
  inSpan,
  linksFromHeaders,
  SpanKind,
  sampleConsumerMetrics,
  secondsSince,
  tracingEnabled,
} from "@trellis/runtime";
import type { Logger } from "pino";
import { type NormalizedReading, normalizeReading, parseReadingBytes } from "../domain/reading.ts";
import { maySeeStoredAgain } from "../domain/redelivery.ts";
import { nanosToMs } from "../domain/timestamps.ts";
import type { MonitorBatchUpdate, MonitorsStore } from "../store/monitors.ts";
import type { ReadingsStore } from "../store/readings.ts";
import type { RollupsStore } from "../store/rollups.ts";
import type { StoredReading } from "./live-publisher.ts";
import { ingestMetrics } from "./metrics.ts";

export interface ReadingsIngestOptions {
  js: JetStreamClient;
  monitors: MonitorsStore;
  readings: ReadingsStore;
  rollups: RollupsStore;
  events: EventPublisher;
  log: Logger;
  /** How many readings a round waits for (up to `maxWaitMs`) before it starts. */
  batchSize: number;
  /** Most readings one round takes (stored as one bucket per monitor, aggregated together). */
  roundSize: number;
  /** How long a round waits for a full batch when fewer readings are waiting. */
  maxWaitMs: number;
  /** Seconds without a reading before a monitor is offline, unless the monitor overrides it. */
  offlineAfterSeconds?: number;
  /**
   * Called (not awaited) once a round is written and acked, with the monitors of the round that
   * were not `online` when the round read them: the presence tracker claims their transition.
   */
  onSeenNotOnline?: (seen: SeenMonitor[]) => void;
  /**
   * Threshold alarms, evaluated on each round's valid readings (in memory, one conditional write
   * per monitor with rules), alongside the round's own writes; a failure fails the round.
   */
  alarms?: { evaluate(readings: readonly { monitorId: string; reading: NormalizedReading }[]): Promise<void> };
  /** Called once a round is written and acked: the stream sequences now stored, and those rejected. */
  onRoundDone?: (stored: number[], rejected: { seq: number; reason: string }[]) => void;
  /**
   * The readings consumer's ack floor (every stream sequence at or below it is acknowledged), as
   * recently known; lets the per-monitor lists of counted sequences be pruned. 0 when unknown.
   */
  ackFloor?: () => number;
  /** Called once a round's readings are inserted (before its rollup and monitor writes and the ack) with them, for the live stream; must not block. */
  onStored?: (stored: StoredReading[]) => void;
}

/** A monitor a round received readings from. */
export interface SeenMonitor {
  monitorId: string;
  ownerId: string;
  /** Latest receive time of its readings in the round (ms). */
  lastSeen: number;
  offlineAfterSeconds: number;
}

interface Accepted {
  msg: JsMsg;
  monitorId: string;
  reading: NormalizedReading;
}

interface Rejected {
  msg: JsMsg;
  monitorId: string;
  reason: string;
}

/** After a failed batch, JetStream redelivers it after this delay. */
const RETRY_DELAY_MS = 2_000;
/**
 * How long one pull waits: the server's idle heartbeats come every half of it, so a consumer leader
 * lost with its NATS node (a cluster) is noticed and pulled from again after ~10 s, not nats.js's
 * ~30 s default.
 */
const PULL_EXPIRES_MS = 10_000;

/**
 * The durable pull consumer of device readings, shared by every telemetry instance. Works in
 * rounds, like a database's group commit: a round takes every reading waiting (up to `roundSize`)
 * and writes them as one bucket per monitor in one `insertMany`, then one rollup bulk write and one monitor
 * bulk write for the whole round, then acks. While a round is being written the next one gathers,
 * so under load rounds grow and the per-monitor writes are shared by more readings, and when idle
 * a reading does not wait for others (beyond `maxWaitMs` for a batch to fill). Invalid messages
 * are rejected with a reason (an event, a counter and a warning), never dropped.
 */
export class ReadingsIngest {
  private readonly opts: ReadingsIngestOptions;
  private messages: ConsumerMessages | undefined;
  private buffer: JsMsg[] = [];
  /** Set while the loop waits for a first message, resp. for a batch to fill. */
  private arrived: (() => void) | undefined;
  private full: (() => void) | undefined;
  private space: (() => void) | undefined;
  private stopping = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private loopDone: Promise<void> = Promise.resolve();
  private stopped: Promise<void> | undefined;
  private stopSampling = (): void => {};
  /** The highest stream sequence this process has acked (rounds run one at a time). */
  private highestAckedSeq = 0;
  /** The last failure of a round, cleared by the next successful one (reported by the health check). */
  lastError: Error | undefined;

  constructor(opts: ReadingsIngestOptions) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    const consumer = await this.opts.js.consumers.get(READINGS_STREAM, READINGS_CONSUMER);
    this.messages = await consumer.consume({ max_messages: this.opts.roundSize, expires: PULL_EXPIRES_MS });
    this.stopSampling = sampleConsumerMetrics(
      consumer,
      { stream: READINGS_STREAM, consumer: READINGS_CONSUMER },
      { log: this.opts.log },
    );
    this.pumpDone = this.pump(this.messages);
    this.loopDone = this.loop();
  }

  /** Stops pulling, writes what was already received, and resolves when the last round is acked. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.stopSampling();
      this.space?.();
      await this.messages?.close();
      await this.pumpDone;
      this.arrived?.();
      this.full?.();
      this.space?.();
      await this.loopDone;
    })();
    return this.stopped;
  }

  private async pump(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      this.buffer.push(msg);
      this.arrived?.();
      if (this.buffer.length >= this.opts.batchSize) this.full?.();
      // Backpressure: stop taking messages while a full round is waiting besides the one in hand.
      while (this.buffer.length >= this.opts.roundSize && !this.stopping) {
        await new Promise<void>((resolve) => {
          this.space = resolve;
        });
      }
    }
  }

  /** Resolves when a batch is waiting, when the first waiting message is `maxWaitMs` old, or on stop. */
  private async nextRound(): Promise<JsMsg[]> {
    if (this.buffer.length === 0 && !this.stopping) {
      await new Promise<void>((resolve) => {
        this.arrived = resolve;
      });
    }
    if (this.buffer.length < this.opts.batchSize && !this.stopping) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.opts.maxWaitMs);
        this.full = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.arrived = undefined;
    this.full = undefined;
    const round = this.buffer.splice(0, this.opts.roundSize);
    this.space?.();
    this.space = undefined;
    return round;
  }

  private async loop(): Promise<void> {
    for (;;) {
      const round = await this.nextRound();
      if (round.length > 0) {
        const started = performance.now();
        try {
          await this.traced(round);
          this.lastError = undefined;
          ingestMetrics.roundSize.observe(round.length);
          ingestMetrics.roundSeconds.observe(secondsSince(started));
        } catch (err) {
          ingestMetrics.failedRounds.inc();
          this.lastError = err as Error;
          this.opts.log.error({ err, messages: round.length }, "readings round failed; it will be redelivered");
          for (const m of round) m.nak(RETRY_DELAY_MS);
        }
      }
      if (this.stopping && this.buffer.length === 0) {
        // The pump may still push messages the client had queued; they get one more round.
        await this.pumpDone;
        if (this.buffer.length === 0) return;
      }
    }
  }

  /**
   * With tracing on, a span per round (a trace of its own: a round serves many requests), its
   * writes as children, linked to the traces of the readings that carry one (HTTP submissions).
   */
  private traced(round: readonly JsMsg[]): Promise<void> {
    if (!tracingEnabled()) return this.process(round);
    return inSpan(
      "telemetry ingest round",
      {
        kind: SpanKind.CONSUMER,
        root: true,
        attributes: {
          "messaging.system": "nats",
          "messaging.destination.name": READINGS_STREAM,
          "messaging.operation.type": "process",
          "messaging.batch.message_count": round.length,
        },
        links: linksFromHeaders(round.map((m) => m.headers)),
      },
      () => this.process(round),
    );
  }

  /** Validates, writes and acks one round. Throws (nothing acked) when a write fails. */
  async process(round: readonly JsMsg[]): Promise<void> {
    const { monitors, readings, rollups, log } = this.opts;
    const started = performance.now();
    const accepted: Accepted[] = [];
    const rejected: Rejected[] = [];
    for (const msg of round) {
      const monitorId = deviceSubjects.monitorOfReadings(msg.subject);
      if (monitorId === null) {
        rejected.push({ msg, monitorId: deviceSubjects.monitorTokenOf(msg.subject), reason: "monitor_id is invalid" });
        continue;
      }
      const check = parseReadingBytes(msg.data);
      if (!check.ok) {
        rejected.push({ msg, monitorId, reason: check.reason });
        continue;
      }
      const reading = normalizeReading(check.reading, nanosToMs(msg.timestampNanos));
      accepted.push({ msg, monitorId, reading });
    }

    // One read of the monitors serves both the existence check and the latest-value comparison.
    const current = await monitors.ingestState([...new Set([...accepted, ...rejected].map((a) => a.monitorId))]);
    const valid: Accepted[] = [];
    for (const a of accepted) {
      if (current.has(a.monitorId)) valid.push(a);
      else rejected.push({ msg: a.msg, monitorId: a.monitorId, reason: "monitor_id is invalid: no such monitor" });
    }

    // Alarm evaluation overlaps the inserts (it reads only alarm state). Its result is awaited
    // with the round's other writes; caught here so an early failure is not an unhandled rejection.
    const alarmsDone = this.opts.alarms?.evaluate(valid).then(
      () => undefined,
      (err: unknown) => err,
    );

    // One bucket per monitor of the round (per minute of measurement time), in one insert. A
    // message an earlier delivery may have stored (redelivered, or delivered again after a NATS
    // restart lost acks) means some readings may be stored already: those are left out.
    const storedNow = await readings.insertRound(
      valid.map((a) => ({ monitorId: a.monitorId, seq: a.msg.seq, at: a.reading.at, values: a.reading.values })),
      maySeeStoredAgain(
        valid.map((a) => a.msg),
        this.highestAckedSeq,
      ),
    );
    // Live events as soon as the readings are stored, not after the round's rollup, monitor and
    // alarm writes (about as long again on the test server). Stored now or by an earlier attempt
    // of a redelivered round: the live event's id dedupes it.
    this.opts.onStored?.(valid.map((a) => ({ monitorId: a.monitorId, seq: a.msg.seq, reading: a.reading })));
    // Every valid reading of the round goes to the rollups and counters, also those an earlier
    // delivery inserted (it may have died before counting them): the stores count each stream
    // sequence once, so a redelivered round neither misses nor doubles one.
    const byMonitor = new Map<string, MonitorBatchUpdate & { readings: NormalizedReading[] }>();
    for (const a of valid) {
      let u = byMonitor.get(a.monitorId);
      if (!u) {
        u = { monitorId: a.monitorId, seqs: [], readings: [] };
        byMonitor.set(a.monitorId, u);
      }
      u.seqs.push(a.msg.seq);
      u.readings.push(a.reading);
      // Presence: the stream's receive time, folded into the monitor's update of the round.
      const receivedAt = nanosToMs(a.msg.timestampNanos);
      if (!u.seen || receivedAt > u.seen.at) {
        const timeoutS = current.get(a.monitorId)?.offlineAfterSeconds ?? this.opts.offlineAfterSeconds;
        if (timeoutS !== undefined) u.seen = { at: receivedAt, offlineDueAt: receivedAt + timeoutS * 1_000 };
      }
    }
    // Different collections and documents: the two bulk writes cannot lose each other's updates.
    const [, , alarmsFailed] = await Promise.all([
      rollups.apply(valid.map((a) => ({ monitorId: a.monitorId, seq: a.msg.seq, reading: a.reading }))),
      monitors.applyBatch([...byMonitor.values()], current, this.opts.ackFloor?.() ?? 0),
      alarmsDone,
    ]);
    if (alarmsFailed) throw alarmsFailed;

    for (const r of rejected) await this.reject(r, current.has(r.monitorId));
    for (const a of valid) {
      a.msg.ack();
      if (a.msg.seq > this.highestAckedSeq) this.highestAckedSeq = a.msg.seq;
    }
    ingestMetrics.stored.inc(storedNow);
    ingestMetrics.rejected.inc(rejected.length);
    this.opts.onRoundDone?.(
      valid.map((a) => a.msg.seq),
      rejected.map((r) => ({ seq: r.msg.seq, reason: r.reason })),
    );
    if (this.opts.onSeenNotOnline && this.opts.offlineAfterSeconds !== undefined) {
      const seen: SeenMonitor[] = [];
      for (const u of byMonitor.values()) {
        const state = current.get(u.monitorId);
        if (!state || state.presence === "online" || !u.seen) continue;
        seen.push({
          monitorId: u.monitorId,
          ownerId: state.ownerId,
          lastSeen: u.seen.at,
          offlineAfterSeconds: state.offlineAfterSeconds ?? this.opts.offlineAfterSeconds,
        });
      }
      if (seen.length > 0) this.opts.onSeenNotOnline(seen);
    }
    if (valid.length > 0)
      log.debug(
        { stored: storedNow, received: valid.length, ms: Math.round(performance.now() - started) },
        "readings round written",
      );
  }

  private async reject(r: Rejected, monitorExists: boolean): Promise<void> {
    const { events, monitors, log } = this.opts;
    log.warn({ monitorId: r.monitorId, seq: r.msg.seq, reason: r.reason }, "reading rejected");
    await events.publish(
      telemetryEvents.readingRejected,
      { monitorId: r.monitorId, reason: r.reason, streamSequence: r.msg.seq, at: new Date().toISOString() },
      `reading-rejected:${r.msg.seq}`,
    );
    if (monitorExists) await monitors.countRejected(r.monitorId, r.msg.seq);
    r.msg.term(r.reason.slice(0, 200));
  }
}
