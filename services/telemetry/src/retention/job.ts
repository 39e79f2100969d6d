import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { DAY_MS, downsampleDocs, HOUR_MS, type Resolution, type RetentionWindows } from "../domain/downsample.ts";
import { bucketStart } from "../domain/rollup.ts";
import type { PresenceStore } from "../store/presence.ts";
import type { ReadingsStore } from "../store/readings.ts";
import type { RollupTiersStore } from "../store/rollup-tiers.ts";

export interface RetentionJobOptions {
  monitors: PresenceStore;
  readings: ReadingsStore;
  tiers: RollupTiersStore;
  log: Logger;
  /** This instance, as the lease holder. */
  instance: string;
  /** Days raw readings are kept, unless a monitor overrides it. */
  readingsDays: number;
  /** Days each rollup resolution is kept (day: 0 = forever). */
  rollupDays: RetentionWindows;
  intervalMs: number;
  batchSize: number;
  batchPauseMs: number;
  /** An hour is downsampled this long after it ends. */
  downsampleDelayMs: number;
}

/** Most minutes one downsampling step reads for one monitor (7 days: 10,080 documents at most). */
const STEP_MS = 7 * DAY_MS;
const LEASE = "retention";

export interface RetentionSummary {
  monitors: number;
  hoursWritten: number;
  daysWritten: number;
  deleted: Record<"readings" | Resolution, number>;
  batches: Record<"readings" | Resolution, number>;
  ms: number;
}

/**
 * Retention and downsampling, every `intervalMs`, in the instance holding the lease (a
 * conditional upsert in `maintenance`; a second instance skips the run, and two running at once
 * would only write the same documents and delete the same ones). Per monitor, in id order:
 * 1. downsample: complete hours since its watermark (minus one hour, rewritten for late readings)
 *    are computed from the minute rollups, the complete days among them from the hourly ones;
 * 2. delete raw readings older than the monitor's retention;
 * 3. delete minute rollups past their window, hourly ones past theirs (only what is already
 *    downsampled), daily ones past theirs (when not kept forever).
 * Every delete takes at most `batchSize` documents and is followed by a pause of `batchPauseMs`
 * or as long as the batch took, whichever is longer, so ingest keeps the database between
 * batches, and more of it when it is busy. Results are logged per run.
 */
export class RetentionJob {
  private readonly opts: RetentionJobOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(opts: RetentionJobOptions) {
    this.opts = opts;
  }

  start(): void {
    const tick = () => {
      if (this.stopping) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.opts.log.error({ err }, "retention run failed"))
        .finally(() => {
          if (!this.stopping) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  /** Stops after the batch in hand. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One run, if this instance gets the lease; null when another holds it. */
  async runOnce(now = Date.now()): Promise<RetentionSummary | null> {
    const { tiers, log, instance } = this.opts;
    const leaseMs = Math.max(this.opts.intervalMs * 2, 60_000);
    if (!(await tiers.takeLease(LEASE, instance, leaseMs))) {
      log.debug("retention run skipped: another instance holds the lease");
      return null;
    }
    const started = performance.now();
    const summary: RetentionSummary = {
      monitors: 0,
      hoursWritten: 0,
      daysWritten: 0,
      deleted: { readings: 0, minute: 0, hour: 0, day: 0 },
      batches: { readings: 0, minute: 0, hour: 0, day: 0 },
      ms: 0,
    };
    try {
      for (const m of await this.opts.monitors.retentionList()) {
        if (this.stopping) break;
        await tiers.takeLease(LEASE, instance, leaseMs);
        summary.monitors += 1;
        await this.monitor(m._id, m.readingsRetentionDays ?? this.opts.readingsDays, now, summary);
      }
    } finally {
      await tiers.releaseLease(LEASE, instance).catch(() => {});
    }
    summary.ms = Math.round(performance.now() - started);
    log.info(summary, "retention run done");
    return summary;
  }

  private async monitor(monitorId: string, readingsDays: number, now: number, summary: RetentionSummary) {
    const { tiers, readings, rollupDays } = this.opts;
    const hoursDone = await this.downsample(monitorId, now, summary);
    await this.deleteAll("readings", summary, (limit) =>
      readings.deleteOlderBatch(monitorId, now - readingsDays * DAY_MS, limit),
    );
    if (hoursDone === null) return;
    // Rollups go only once they are part of the coarser resolution.
    const minuteCut = Math.min(now - rollupDays.minute * DAY_MS, hoursDone - HOUR_MS);
    await this.deleteAll("minute", summary, (limit) => tiers.deleteBatch("minute", monitorId, minuteCut, limit));
    const hourCut = Math.min(now - rollupDays.hour * DAY_MS, bucketStart(hoursDone, DAY_MS));
    await this.deleteAll("hour", summary, (limit) => tiers.deleteBatch("hour", monitorId, hourCut, limit));
    if (rollupDays.day > 0) {
      const dayCut = now - rollupDays.day * DAY_MS;
      await this.deleteAll("day", summary, (limit) => tiers.deleteBatch("day", monitorId, dayCut, limit));
    }
  }

  /** Brings the monitor's hourly and daily rollups up to the last complete hour; returns the watermark. */
  private async downsample(monitorId: string, now: number, summary: RetentionSummary): Promise<number | null> {
    const { tiers } = this.opts;
    const completeEnd = bucketStart(now - this.opts.downsampleDelayMs, HOUR_MS);
    let done = await tiers.hoursDone(monitorId);
    if (done === null) {
      const first = await tiers.firstMinute(monitorId);
      if (first === null) return null;
      done = bucketStart(first, HOUR_MS);
    } else {
      done -= HOUR_MS; // the last hour again: readings that arrived late by their own timestamp
    }
    while (done < completeEnd && !this.stopping) {
      let to = Math.min(completeEnd, done + STEP_MS);
      const minutes = await tiers.docs("minute", monitorId, done, to);
      if (minutes.length > 0) {
        const hours = downsampleDocs(minutes, HOUR_MS);
        await tiers.write("hour", monitorId, hours);
        summary.hoursWritten += hours.length;
      } else {
        // A gap in the history: straight on to the hour of the next minute with readings (or the end).
        const next = await tiers.firstMinute(monitorId, to);
        to = Math.max(to, next === null ? completeEnd : Math.min(completeEnd, bucketStart(next, HOUR_MS)));
      }
      // The days completed by this step (the first one partly done by earlier steps).
      const dayFrom = bucketStart(done, DAY_MS);
      const dayTo = bucketStart(to, DAY_MS);
      if (dayTo > dayFrom) {
        const days = downsampleDocs(await tiers.docs("hour", monitorId, dayFrom, dayTo), DAY_MS);
        await tiers.write("day", monitorId, days);
        summary.daysWritten += days.length;
      }
      await tiers.setHoursDone(monitorId, to);
      done = to;
      if (minutes.length > 0 && to < completeEnd) await sleep(this.opts.batchPauseMs);
    }
    return tiers.hoursDone(monitorId);
  }

  private async deleteAll(
    kind: "readings" | Resolution,
    summary: RetentionSummary,
    batch: (limit: number) => Promise<number>,
  ): Promise<void> {
    const { batchSize, batchPauseMs, log } = this.opts;
    for (;;) {
      if (this.stopping) return;
      const started = performance.now();
      const n = await batch(batchSize);
      if (n === 0) return;
      const ms = performance.now() - started;
      summary.deleted[kind] += n;
      summary.batches[kind] += 1;
      log.debug({ kind, deleted: n, ms: Math.round(ms) }, "retention batch deleted");
      if (n < batchSize) return;
      // At least as long as the batch took: deleting never takes more than half of the database's
      // time, and when ingest keeps it busy (batches slow down) the pauses grow with them.
      await sleep(Math.max(batchPauseMs, ms));
    }
  }
}
