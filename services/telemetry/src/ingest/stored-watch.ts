import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { READINGS_CONSUMER, READINGS_STREAM, readingsStoredNotice } from "@trellis/contracts";
import { type NoticePublisher, onNotice } from "@trellis/runtime";
import type { Logger } from "pino";
import { inRanges, type SeqRange, toRanges } from "../domain/seq-ranges.ts";

/** How a wait for a reading ended. */
export type StoredOutcome = { kind: "stored" } | { kind: "rejected"; reason: string } | { kind: "timeout" };

/** Notices are kept this long, so a reading stored just before its submitter started waiting is found. */
const REMEMBER_MS = 2 * 60_000;
/** Safety net for a lost notice (a reconnect): the durable consumer's ack floor, at most this often. */
const ACK_FLOOR_POLL_MS = 1_000;

interface Waiter {
  seq: number;
  done: (outcome: StoredOutcome) => void;
}

/**
 * Read-your-writes for readings submitted over HTTP. The ingest round that writes a reading may
 * run in any telemetry instance; when it has written and acked the round, that instance
 * broadcasts which stream sequences are now stored (`readingsStoredNotice`). Every instance
 * listens, so the one holding the HTTP request answers as soon as its reading's sequence is in.
 * Notices are remembered for two minutes (a round can finish before the submitter starts
 * waiting), and while anyone waits the consumer's ack floor is polled in case a notice was lost:
 * everything at or below it has been written (or rejected) and acked.
 */
export class StoredWatch {
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly notices: NoticePublisher;
  private readonly log: Logger;
  private sub: Subscription | undefined;
  private recent: { at: number; stored: readonly SeqRange[]; rejected: Map<number, string> }[] = [];
  private readonly waiters = new Set<Waiter>();
  private poller: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, jsm: JetStreamManager, notices: NoticePublisher, log: Logger) {
    this.nc = nc;
    this.jsm = jsm;
    this.notices = notices;
    this.log = log;
  }

  /** Publishes a notice for a written round (called by the ingest loop of whichever instance wrote it). */
  notify(stored: Iterable<number>, rejected: { seq: number; reason: string }[]): void {
    const ranges = toRanges(stored);
    if (ranges.length === 0 && rejected.length === 0) return;
    const copy = ranges.map(([from, to]): [number, number] => [from, to]);
    this.notices.publish(readingsStoredNotice, { stored: copy, rejected });
  }

  async start(): Promise<void> {
    this.sub = onNotice(
      this.nc,
      readingsStoredNotice,
      (notice) => this.record(notice.stored, new Map(notice.rejected.map((r) => [r.seq, r.reason]))),
      this.log,
    );
    await this.nc.flush();
  }

  stop(): void {
    this.sub?.unsubscribe();
    clearInterval(this.poller);
    this.poller = undefined;
    for (const w of this.waiters) w.done({ kind: "timeout" });
    this.waiters.clear();
  }

  /** Resolves when the reading with this stream sequence is stored (or rejected), or at `deadline` (ms epoch). */
  waitFor(seq: number, deadline: number): Promise<StoredOutcome> {
    const known = this.lookup(seq);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish({ kind: "timeout" }), Math.max(0, deadline - Date.now()));
      const waiter: Waiter = { seq, done: (outcome) => finish(outcome) };
      const finish = (outcome: StoredOutcome) => {
        clearTimeout(timer);
        if (!this.waiters.delete(waiter)) return;
        if (this.waiters.size === 0) {
          clearInterval(this.poller);
          this.poller = undefined;
        }
        resolve(outcome);
      };
      this.waiters.add(waiter);
      this.poller ??= setInterval(() => void this.checkAckFloor(), ACK_FLOOR_POLL_MS);
    });
  }

  private lookup(seq: number): StoredOutcome | undefined {
    for (const n of this.recent) {
      const reason = n.rejected.get(seq);
      if (reason !== undefined) return { kind: "rejected", reason };
      if (inRanges(n.stored, seq)) return { kind: "stored" };
    }
    return undefined;
  }

  private record(stored: readonly SeqRange[], rejected: Map<number, string>): void {
    const now = Date.now();
    this.recent.push({ at: now, stored, rejected });
    while ((this.recent[0]?.at ?? now) < now - REMEMBER_MS) this.recent.shift();
    for (const w of this.waiters) {
      const reason = rejected.get(w.seq);
      if (reason !== undefined) w.done({ kind: "rejected", reason });
      else if (inRanges(stored, w.seq)) w.done({ kind: "stored" });
    }
  }

  private async checkAckFloor(): Promise<void> {
    try {
      const info = await this.jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER);
      const floor = info.ack_floor.stream_seq;
      for (const w of this.waiters) if (w.seq <= floor) w.done({ kind: "stored" });
    } catch (err) {
      this.log.warn({ err }, "could not read the ingest consumer's ack floor");
    }
  }
}
