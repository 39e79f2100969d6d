import type { NatsConnection } from "@nats-io/transport-node";
import type { AnalysisJobData, AnalysisProgress } from "@trellis/contracts";
import { TrellisError } from "@trellis/contracts";
import type { EgressPolicy } from "@trellis/runtime";
import { UnrecoverableError } from "bullmq";
import type { Logger } from "pino";
import type { AnalysisConfig } from "../config.ts";
import type { AnalysesStore } from "../store/analyses.ts";

/** What every step of one job works with. */
export interface StepContext {
  nc: NatsConnection;
  store: AnalysesStore;
  job: AnalysisJobData;
  /** Aborted on cancel, timeout or shutdown: steps stop and kill their children. */
  signal: AbortSignal;
  /** The job's own temporary directory (removed by the worker on every outcome). */
  dir: string;
  log: Logger;
  config: Pick<
    AnalysisConfig,
    "FFMPEG_PATH" | "FFMPEG_READ_RATE" | "YTDLP_PATH" | "YTDLP_TIMEOUT_MS" | "YTDLP_MAX_BYTES"
  >;
  report(progress: AnalysisProgress): void;
  /** What yt-dlp may reach for URL analyses (through an egress proxy applying it). */
  egress: EgressPolicy;
}

/**
 * A failed call to another service as the job sees it: retryable codes (media unavailable, a
 * timeout) are thrown as they are, so BullMQ retries with backoff; any other is final.
 */
export function fromServiceError(err: unknown, what: string): Error {
  if (err instanceof TrellisError && !err.retryable) {
    return new UnrecoverableError(`${what}: ${err.code}: ${err.message}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}
