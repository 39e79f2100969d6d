import { setTimeout as sleep } from "node:timers/promises";
import { TrellisError } from "@trellis/contracts";
import type { Logger } from "pino";
import { LOCK_MS, type TusDoc, type TusStore } from "../store/tus.ts";

/** One writer's hold on an upload (see `withLease`). */
export interface Lease {
  /** The upload as it was when the lease was taken. */
  readonly doc: TusDoc;
  readonly lock: string;
  /** How long since the lease was last renewed (by `renew`, `record` or the timer). */
  sinceRenewedMs(): number;
  /** Keeps the upload a while longer; false when the lease was lost. */
  renew(): Promise<boolean>;
  /** Records what is held (`offset`, the `tail` after the last full chunk) and renews; false when the lease was lost. */
  record(offset: number, tail: Uint8Array, expiresAt: Date): Promise<boolean>;
}

export interface LeaseOptions {
  /** Wait for another writer's lease to end until then (ms since the epoch), else `conflict`. */
  until: number;
  /** Run before each wait: throws when the caller may not wait (the upload is gone or not theirs). */
  check(): Promise<unknown>;
  log: Pick<Logger, "warn">;
}

/**
 * Runs `fn` holding the upload's lease (one writer at a time): waits for another writer's to end,
 * renews it on a timer (every eighth of it, when nothing else did for a quarter), whatever the
 * client's pace and through a long finalization, and releases it however `fn` ends. Releasing is
 * by lock, so it does nothing once the upload is gone (finished, terminated) or the lease was
 * lost to another writer; a failed release is logged (the lease then lapses in `LOCK_MS`).
 */
export async function withLease<T>(
  tus: TusStore,
  id: string,
  options: LeaseOptions,
  fn: (lease: Lease) => Promise<T>,
): Promise<T> {
  let claimed = await tus.claim(id);
  while (!claimed) {
    await options.check();
    if (Date.now() > options.until) throw new TrellisError("conflict", "another PATCH is writing to this upload");
    await sleep(50);
    claimed = await tus.claim(id);
  }
  const { doc, lock } = claimed;
  let renewedAt = Date.now();
  const renewed = (held: boolean) => {
    if (held) renewedAt = Date.now();
    return held;
  };
  const lease: Lease = {
    doc,
    lock,
    sinceRenewedMs: () => Date.now() - renewedAt,
    renew: async () => renewed(await tus.renew(id, lock)),
    record: async (offset, tail, expiresAt) => renewed(await tus.progress(id, lock, offset, tail, expiresAt)),
  };
  const keepLease = setInterval(() => {
    if (lease.sinceRenewedMs() < LOCK_MS / 4) return;
    lease.renew().catch(() => false);
  }, LOCK_MS / 8);
  try {
    return await fn(lease);
  } finally {
    clearInterval(keepLease);
    await tus
      .release(id, lock)
      .catch((err: unknown) => options.log.warn({ err, uploadId: id }, "releasing an upload failed"));
  }
}
