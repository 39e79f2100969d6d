import type { Logger } from "pino";
import type { ReadingDocsStore } from "../store/reading-docs.ts";
import { seqOfDocId } from "../store/reading-docs.ts";
import type { ReadingsStore } from "../store/readings.ts";

export interface ReadingsMigrationOptions {
  /** The per-reading collection earlier versions wrote. */
  source: ReadingDocsStore;
  /** Buckets or a native time-series collection. */
  target: ReadingsStore;
  /** One instance migrates; the others wait for it (see RollupTiersStore.takeLease). */
  lease: {
    take(name: string, holder: string, ms: number): Promise<boolean>;
    release(name: string, holder: string): Promise<void>;
  };
  instance: string;
  log: Logger;
  /** Readings moved per step. */
  batchSize?: number;
  /** Called after each step (tests interrupt here). */
  onStep?: (moved: number) => void | Promise<void>;
  signal?: AbortSignal;
}

const LEASE = "readings-migration";
/**
 * Renewed at every step (a step takes seconds): short, because an instance killed while migrating
 * keeps the others waiting until its lease runs out.
 */
const LEASE_MS = 15_000;
/** While another instance migrates, whether it is done is checked this often. */
const LEASE_POLL_MS = 1_000;

/**
 * Moves readings from the per-reading layout into the current one, on start, before ingest and the
 * handlers run. Idempotent and resumable: each step stores a batch in the target (leaving out what
 * an interrupted earlier step stored: `insertRound` with `mayExist`), then deletes it from the
 * source, so a crash between the two repeats the step without storing anything twice. The empty
 * source is dropped, so later starts cost one query. Returns how many readings this call moved.
 */
export async function migrateReadings(opts: ReadingsMigrationOptions): Promise<number> {
  const { source, target, lease, instance, log } = opts;
  const batchSize = opts.batchSize ?? 5_000;
  let moved = 0;
  let total: number | undefined;
  const started = performance.now();
  let waiting = false;
  for (;;) {
    if (opts.signal?.aborted) throw new Error("readings migration aborted");
    const first = await source.nextForMigration(1);
    if (first.length === 0) break;
    if (!(await lease.take(LEASE, instance, LEASE_MS))) {
      // Another instance is migrating: ready when it is done.
      if (!waiting) log.info("readings migration: another instance is migrating; waiting for it");
      waiting = true;
      await new Promise((r) => setTimeout(r, LEASE_POLL_MS));
      continue;
    }
    total ??= await source.collection.estimatedDocumentCount();
    if (moved === 0) log.info({ readings: total, to: target.layout }, "migrating readings from one document each");
    const docs = await source.nextForMigration(batchSize);
    if (docs.length === 0) continue;
    await target.insertRound(
      docs.map((d) => ({ monitorId: d.monitorId, seq: seqOfDocId(d._id), at: d.at, values: d.values ?? {} })),
      true,
    );
    await source.deleteMigrated(docs.map((d) => d._id));
    moved += docs.length;
    log.info(
      { moved, of: total, percent: Math.min(100, Math.round((moved / Math.max(1, total)) * 100)) },
      "readings migration progress",
    );
    await opts.onStep?.(moved);
  }
  if (moved > 0) {
    await source.collection.drop().catch(() => {});
    await lease.release(LEASE, instance).catch(() => {});
    log.info({ moved, ms: Math.round(performance.now() - started) }, "readings migration done");
  }
  return moved;
}
