import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import type { RetentionWindows } from "../domain/downsample.ts";
import { RetentionJob } from "../retention/job.ts";

type RetentionConfig = Pick<
  TelemetryConfig,
  | "READINGS_RETENTION_DAYS"
  | "ROLLUP_MINUTE_RETENTION_DAYS"
  | "ROLLUP_HOUR_RETENTION_DAYS"
  | "ROLLUP_DAY_RETENTION_DAYS"
  | "RETENTION_INTERVAL_MS"
  | "RETENTION_BATCH_SIZE"
  | "RETENTION_BATCH_PAUSE_MS"
  | "DOWNSAMPLE_DELAY_MS"
>;

/** Days each rollup resolution is kept (series read the finest one that still reaches back far enough). */
export const rollupDaysOf = (config: RetentionConfig): RetentionWindows => ({
  minute: config.ROLLUP_MINUTE_RETENTION_DAYS,
  hour: config.ROLLUP_HOUR_RETENTION_DAYS,
  day: config.ROLLUP_DAY_RETENTION_DAYS,
});

export interface RetentionDeps {
  config: RetentionConfig;
  stores: Pick<Stores, "presence" | "readings" | "tiers">;
  /** Names this process as the holder of the retention lease. */
  processId: string;
  log: Logger;
}

/** Retention and downsampling every RETENTION_INTERVAL_MS, in whichever instance holds the lease. */
export function startRetention({ config, stores, processId, log }: RetentionDeps): { stop(): Promise<void> } {
  const job = new RetentionJob({
    monitors: stores.presence,
    readings: stores.readings,
    tiers: stores.tiers,
    log: log.child({ component: "retention" }),
    instance: processId,
    readingsDays: config.READINGS_RETENTION_DAYS,
    rollupDays: rollupDaysOf(config),
    intervalMs: config.RETENTION_INTERVAL_MS,
    batchSize: config.RETENTION_BATCH_SIZE,
    batchPauseMs: config.RETENTION_BATCH_PAUSE_MS,
    downsampleDelayMs: config.DOWNSAMPLE_DELAY_MS,
  });
  job.start();
  return { stop: () => job.stop() };
}
