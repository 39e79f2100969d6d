import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AnalysisError,
  AnalysisJobData,
  type AnalysisJobName,
  type AnalysisProgress,
  mediaCatalog,
  TrellisError,
} from "@trellis/contracts";
import { type EgressPolicy, request } from "@trellis/runtime";
import { type Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { AnalysisConfig } from "../config.ts";
import { ProgressThrottle, progressAt } from "../domain/progress.ts";
import { CancelledError } from "../errors/cancelled-error.ts";
import { FinalError } from "../errors/final-error.ts";
import type { PublishEvent } from "../events.ts";
import { fromServiceError, type StepContext } from "../steps/context.ts";
import { deleteKeyframes, extractKeyframes, type FetchVideo } from "../steps/keyframes.ts";
import type { QuestionGenerator } from "../steps/questions.ts";
import { saveQuestions } from "../steps/save.ts";
import { fetchTranscript } from "../steps/transcript.ts";
import { fetchUrlTranscript, urlVideoFetcher } from "../steps/url-source.ts";
import type { AnalysesStore } from "../store/analyses.ts";
import { SHUTTING_DOWN } from "./cancel.ts";
import { makeJobDir } from "./job-dirs.ts";

export interface ProcessorDeps {
  nc: NatsConnection;
  store: AnalysesStore;
  publish: PublishEvent;
  generator: QuestionGenerator;
  log: Logger;
  config: AnalysisConfig;
  egress: EgressPolicy;
}

type AnalysisJob = Job<AnalysisJobData, unknown, AnalysisJobName>;

const never = new AbortController().signal;

/** How a run ended when it did not complete. */
type Outcome =
  | { kind: "cancelled" }
  | { kind: "handed-back" }
  | { kind: "failed"; error: AnalysisError }
  | { kind: "retry"; error: AnalysisError };

function outcomeOf(
  err: unknown,
  signal: AbortSignal,
  timeout: AbortSignal,
  job: AnalysisJob,
  attempts: number,
): Outcome {
  if (signal.aborted) return signal.reason === SHUTTING_DOWN ? { kind: "handed-back" } : { kind: "cancelled" };
  if (timeout.aborted)
    return { kind: "failed", error: { code: "deadline_exceeded", message: "the analysis took too long" } };
  if (err instanceof CancelledError) return { kind: "cancelled" };
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof FinalError) return { kind: "failed", error: { code: err.code, message } };
  if (err instanceof UnrecoverableError) return { kind: "failed", error: { code: "failed", message } };
  const code = err instanceof TrellisError ? err.code : "internal";
  if (job.attemptsStarted >= attempts) return { kind: "failed", error: { code, message } };
  return { kind: "retry", error: { code, message } };
}

/**
 * The BullMQ processor: `(job, token, signal)` (three parameters, so BullMQ passes its signal),
 * combined with the per-job timeout. Every outcome is written to the analysis record; anything
 * but a transient failure throws `UnrecoverableError` so it is never retried.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { store, publish, config } = deps;
  return async function process(job: AnalysisJob, token: string | undefined, signal: AbortSignal | undefined) {
    const parsed = AnalysisJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid job payload: ${parsed.error.message}`);
    const data = parsed.data;
    const id = data.analysisId;
    const log = deps.log.child({ analysisId: id, attempt: job.attemptsStarted });
    const timeout = AbortSignal.timeout(config.JOB_TIMEOUT_MS);
    const bullSignal = signal ?? never;
    const aborted = AbortSignal.any([bullSignal, timeout]);

    const finishCancelled = async () => {
      if (await store.finish(id, "cancelled", new Date())) {
        publish("cancelled", { analysisId: id, videoId: data.videoId, at: new Date().toISOString() });
      }
    };
    if (await store.cancelRequested(id)) {
      await finishCancelled();
      throw new CancelledError();
    }
    const started = await store.markActive(id, job.attemptsStarted, new Date());
    if (!started) throw new UnrecoverableError("the analysis is already finished");

    const throttle = new ProgressThrottle(config.PROGRESS_INTERVAL_MS);
    const report = (progress: AnalysisProgress) => {
      if (!throttle.shouldEmit(progress, performance.now())) return;
      publish("progress", { analysisId: id, videoId: data.videoId, progress, at: new Date().toISOString() });
      Promise.all([job.updateProgress(progress), store.setProgress(id, progress)]).catch((err: unknown) =>
        log.warn({ err }, "could not record progress"),
      );
    };
    const dir = await makeJobDir(config.ANALYSIS_TMP_DIR ?? tmpdir(), id);
    const ctx: StepContext = {
      nc: deps.nc,
      store,
      job: data,
      signal: aborted,
      dir,
      log,
      config,
      report,
      egress: deps.egress,
    };
    const checkCancel = async () => {
      aborted.throwIfAborted();
      if (await store.cancelRequested(id)) throw new CancelledError();
    };
    try {
      let durationMs: number;
      let segments: Awaited<ReturnType<typeof fetchTranscript>>;
      let fetchVideo: FetchVideo | undefined;
      if (data.url) {
        // A URL: captions and media from the origin (yt-dlp), not from media.
        const source = await fetchUrlTranscript(ctx, data.url);
        ({ durationMs, segments } = source);
        fetchVideo = urlVideoFetcher(source.infoFile);
      } else {
        let video: Awaited<ReturnType<typeof request<typeof mediaCatalog.getVideo>>>;
        try {
          video = await request(deps.nc, mediaCatalog.getVideo, { actor: data.actor, videoId: data.videoId });
        } catch (err) {
          throw fromServiceError(err, "video");
        }
        durationMs = video.durationMs ?? 0;
        segments = await fetchTranscript(ctx, durationMs);
      }
      await checkCancel();
      const keyframes = await extractKeyframes(ctx, durationMs, fetchVideo);
      await checkCancel();
      report(progressAt("questions", 0));
      const { generator, questions } = await deps.generator.generate(
        { analysisId: id, videoId: data.videoId, numQuestions: data.numQuestions, segments, keyframes },
        aborted,
        log,
      );
      await checkCancel();
      await saveQuestions(ctx, questions);
      // Gone before the analysis reads as completed, so no one ever sees a finished job's files.
      await rm(dir, { recursive: true, force: true });
      const done = progressAt("done", 1);
      if (
        await store.finish(id, "completed", new Date(), { questionCount: questions.length, progress: done, generator })
      ) {
        publish("progress", { analysisId: id, videoId: data.videoId, progress: done, at: new Date().toISOString() });
        publish("completed", {
          analysisId: id,
          videoId: data.videoId,
          questionCount: questions.length,
          at: new Date().toISOString(),
        });
      }
      log.info({ questions: questions.length, keyframes: keyframes.length, generator }, "analysis completed");
      return { questionCount: questions.length };
    } catch (err) {
      const outcome = outcomeOf(err, bullSignal, timeout, job, config.JOB_ATTEMPTS);
      // Partial output goes on every outcome: the temp dir now, keyframes through media.
      await rm(dir, { recursive: true, force: true });
      const partial = (await store.get(id))?.keyframeIds ?? [];
      await deleteKeyframes(ctx, partial);
      await store.clearKeyframes(id);
      if (outcome.kind === "cancelled") {
        await finishCancelled();
        log.info("analysis cancelled");
        throw new CancelledError();
      }
      if (outcome.kind === "handed-back") {
        await store.markRetrying(id, { code: "unavailable", message: "handed back at shutdown" });
        if (token) await job.moveToWait(token);
        log.info("analysis handed back at shutdown");
        throw new WaitingError();
      }
      if (outcome.kind === "retry") {
        await store.markRetrying(id, outcome.error);
        log.warn({ err }, "analysis failed, will retry");
        throw err;
      }
      if (await store.finish(id, "failed", new Date(), { error: outcome.error })) {
        publish("failed", {
          analysisId: id,
          videoId: data.videoId,
          error: outcome.error,
          at: new Date().toISOString(),
        });
      }
      log.warn({ error: outcome.error }, "analysis failed");
      throw new UnrecoverableError(outcome.error.message);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

/** The worker of this instance. */
export function startWorker(redis: Redis, deps: ProcessorDeps): Worker<AnalysisJobData, unknown, AnalysisJobName> {
  const worker = new Worker<AnalysisJobData, unknown, AnalysisJobName>(
    deps.config.ANALYSIS_QUEUE,
    createProcessor(deps),
    {
      connection: redis,
      prefix: deps.config.REDIS_KEY_PREFIX,
      concurrency: deps.config.WORKER_CONCURRENCY,
      lockDuration: deps.config.JOB_LOCK_MS,
      stalledInterval: deps.config.JOB_STALLED_INTERVAL_MS,
    },
  );
  worker.on("error", (err) => deps.log.error({ err }, "worker error"));
  return worker;
}

/** Hands in-flight jobs back to the queue (they abort with `shutdown`), then closes the worker. */
export async function closeWorker(worker: Pick<Worker, "cancelAllJobs" | "close">): Promise<void> {
  worker.cancelAllJobs(SHUTTING_DOWN);
  await worker.close();
}
