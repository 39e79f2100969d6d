import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import { migrateReadings } from "../migrations/readings-to-buckets.ts";

export interface ReadingsMigrationDeps {
  config: Pick<TelemetryConfig, "READINGS_MIGRATION_BATCH">;
  stores: Pick<Stores, "readingDocs" | "readings" | "tiers">;
  /** Names this process as the holder of the migration lease. */
  processId: string;
  log: Logger;
}

/**
 * Moves readings an earlier version stored one document each into the current layout; `done`
 * settles when none are left (a no-op query once done). Ingest and the handlers start after it.
 * `stop` aborts it between two steps (each step is resumable): a shutdown during a long migration
 * need not wait for it.
 */
export function startReadingsMigration({ config, stores, processId, log }: ReadingsMigrationDeps): {
  done: Promise<number>;
  stop(): void;
} {
  const abort = new AbortController();
  const done = migrateReadings({
    source: stores.readingDocs,
    target: stores.readings,
    lease: {
      take: (name, holder, ms) => stores.tiers.takeLease(name, holder, ms),
      release: (name, holder) => stores.tiers.releaseLease(name, holder),
    },
    instance: processId,
    log,
    batchSize: config.READINGS_MIGRATION_BATCH,
    signal: abort.signal,
  });
  return { done, stop: () => abort.abort() };
}
