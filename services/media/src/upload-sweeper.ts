import type { Logger } from "pino";
import type { GridFsFiles } from "./store/gridfs.ts";
import type { TusStore } from "./store/tus.ts";
import type { UploadsStore } from "./store/uploads.ts";

export interface SweeperOptions {
  uploads: UploadsStore;
  buckets: ReadonlyMap<string, GridFsFiles<object>>;
  /** An upload untouched this long is abandoned (its process died). */
  staleMs: number;
  intervalMs: number;
  log: Logger;
}

/**
 * Removes the chunks of uploads whose media process died mid-way (a client that goes away, or a
 * refusal, is cleaned up at once by the upload itself). Each instance sweeps; every step is
 * idempotent, so two instances sweeping the same upload do no harm. A files document that exists
 * means the upload finished and only its record was left: the file is kept.
 */
export class UploadSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly o: SweeperOptions;

  constructor(options: SweeperOptions) {
    this.o = options;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => undefined)
        .catch((err) => this.o.log.error({ err }, "upload sweep failed"))
        .finally(() => {
          this.running = undefined;
        });
    }, this.o.intervalMs);
    this.timer.unref();
  }

  /** One pass: every stale upload's chunks (files left alone when the upload did finish). */
  async sweep(): Promise<number> {
    const stale = await this.o.uploads.stale(new Date(Date.now() - this.o.staleMs), 100);
    for (const upload of stale) {
      for (const name of upload.buckets) {
        const files = this.o.buckets.get(name);
        if (files && !(await files.find(upload._id))) await files.chunks.deleteMany({ files_id: upload._id });
      }
      await this.o.uploads.end(upload._id);
      this.o.log.info({ uploadId: upload._id, buckets: upload.buckets }, "abandoned upload removed");
    }
    return stale.length;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

/** Removes resumable (tus) uploads past their expiry, with their chunks, every `intervalMs`. */
export class TusSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly o: { tus: TusStore; intervalMs: number; log: Logger };

  constructor(options: { tus: TusStore; intervalMs: number; log: Logger }) {
    this.o = options;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => undefined)
        .catch((err) => this.o.log.error({ err }, "tus upload sweep failed"))
        .finally(() => {
          this.running = undefined;
        });
    }, this.o.intervalMs);
    this.timer.unref();
  }

  /** One pass: every expired upload's chunks and record (a finished video is left alone). */
  async sweep(): Promise<number> {
    const expired = await this.o.tus.expired(100);
    for (const upload of expired) {
      await this.o.tus.remove(upload._id);
      this.o.log.info({ uploadId: upload._id, offset: upload.offset }, "expired tus upload removed");
    }
    return expired.length;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
