import { tmpdir } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import { AnalysisJobData, type AnalysisJobName, TrellisError } from "@trellis/contracts";
import {
  contextFromCarrier,
  type EgressPolicy,
  openSpan,
  SpanKind,
  tracingEnabled,
  withOpenSpan,
} from "@trellis/runtime";
import { type Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { AnalysisConfig } from "../config.ts";
import { CancelledError } from "../errors/cancelled-error.ts";
import type { PublishEvent } from "../events.ts";
import type { StepContext } from "../steps/context.ts";
import { deleteKeyframes } from "../steps/keyframes.ts";
import type { QuestionGenerator } from "../steps/questions.ts";
import type { AnalysesStore } from "../store/analyses.ts";
import { SHUTTING_DOWN } from "./cancel.ts";
import { type Finished, finishCancelled, finishCompleted, finishFailed } from "./finish.ts";
import { makeJobDir, removingJobDir } from "./job-dirs.ts";
import { outcomeOf, type RunState } from "./outcome.ts";
import { progressReporter } from "./progress-reporter.ts";
import { JOB_NAME, jobAttributes } from "./queue.ts";
import { runSteps } from "./run-steps.ts";

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

/**
 * A run that threw: partial output goes (keyframes through media; the job directory is gone
 * already), the outcome is recorded, and BullMQ is told what to do with the job by what is thrown
 * (`UnrecoverableError`: never again; `WaitingError`: it was moved back to waiting; the original
 * error: retry with backoff).
 */
async function settleFailure(
  deps: ProcessorDeps,
  ctx: StepContext,
  run: RunState,
  hand: { job: AnalysisJob; token: string | undefined },
  err: unknown,
): Promise<never> {
  const { store } = deps;
  const { log } = ctx;
  const a: Finished = { analysisId: ctx.job.analysisId, videoId: ctx.job.videoId };
  const outcome = outcomeOf(err, run);
  await deleteKeyframes(ctx, (await store.get(a.analysisId))?.keyframeIds ?? []);
  await store.clearKeyframes(a.analysisId);
  switch (outcome.kind) {
    case "cancelled":
      await finishCancelled(deps, a);
      log.info("analysis cancelled");
      throw new CancelledError();
    case "handed-back":
      await store.markRetrying(a.analysisId, { code: "unavailable", message: "handed back at shutdown" });
      if (hand.token) await hand.job.moveToWait(hand.token);
      log.info("analysis handed back at shutdown");
      throw new WaitingError();
    case "retry":
      await store.markRetrying(a.analysisId, outcome.error);
      log.warn({ err }, "analysis failed, will retry");
      throw err;
    case "failed":
      await finishFailed(deps, a, outcome.error);
      log.warn({ error: outcome.error }, "analysis failed");
      throw new UnrecoverableError(outcome.error.message);
    default:
      throw new Error(`unhandled outcome: ${JSON.stringify(outcome satisfies never)}`);
  }
}

/**
 * The BullMQ processor: `(job, token, signal)` (three parameters, so BullMQ passes its signal),
 * combined with the per-job timeout. It checks the job may start, runs the steps (`runSteps`) in a
 * job directory removed before any outcome is recorded (`removingJobDir`), and records the outcome
 * (`finish*`, `settleFailure`); anything but a transient failure throws `UnrecoverableError` so it
 * is never retried.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { store, config } = deps;
  const attempt = async (
    job: AnalysisJob,
    token: string | undefined,
    signal: AbortSignal | undefined,
    data: AnalysisJobData,
  ): Promise<{ questionCount: number }> => {
    const a: Finished = { analysisId: data.analysisId, videoId: data.videoId };
    const log = deps.log.child({ analysisId: a.analysisId, attempt: job.attemptsStarted });

    if (await store.cancelRequested(a.analysisId)) {
      await finishCancelled(deps, a);
      throw new CancelledError();
    }
    if (!(await store.markActive(a.analysisId, job.attemptsStarted, new Date()))) {
      throw new UnrecoverableError("the analysis is already finished");
    }

    const run: RunState = {
      signal: signal ?? never,
      timeout: AbortSignal.timeout(config.JOB_TIMEOUT_MS),
      attemptsStarted: job.attemptsStarted,
      attempts: config.JOB_ATTEMPTS,
    };
    const report = progressReporter(
      { job, store, publish: deps.publish, log, intervalMs: config.PROGRESS_INTERVAL_MS },
      a,
    );
    const dir = await makeJobDir(config.ANALYSIS_TMP_DIR ?? tmpdir(), a.analysisId);
    const ctx: StepContext = {
      nc: deps.nc,
      store,
      job: data,
      signal: AbortSignal.any([run.signal, run.timeout]),
      dir,
      log,
      config,
      report,
      egress: deps.egress,
    };
    try {
      // The directory goes before any outcome is recorded: no one ever sees a finished job's files.
      const done = await removingJobDir(dir, () => runSteps(ctx, deps.generator));
      await finishCompleted(deps, a, { questionCount: done.questionCount, generator: done.generator });
      log.info(
        { questions: done.questionCount, keyframes: done.keyframes.length, generator: done.generator },
        "analysis completed",
      );
      return { questionCount: done.questionCount };
    } catch (err) {
      return settleFailure(deps, ctx, run, { job, token }, err);
    }
  };

  return async function process(job: AnalysisJob, token: string | undefined, signal: AbortSignal | undefined) {
    const parsed = AnalysisJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid job payload: ${parsed.error.message}`);
    const data = parsed.data;
    if (!tracingEnabled()) return attempt(job, token, signal, data);
    // One consumer span per attempt, in the trace of the request that queued the job (its data
    // carries that context); the steps' spans and calls are its children.
    const span = openSpan(`process ${JOB_NAME}`, {
      kind: SpanKind.CONSUMER,
      parent: contextFromCarrier(data.trace),
      attributes: {
        ...jobAttributes(config.ANALYSIS_QUEUE, data.analysisId, "process"),
        "trellis.job.attempt": job.attemptsStarted,
      },
    });
    try {
      const result = await withOpenSpan(span, () => attempt(job, token, signal, data));
      span?.end();
      return result;
    } catch (err) {
      // Handed back at shutdown or cancelled: not a failure of the job.
      if (err instanceof WaitingError) span?.end();
      else if (err instanceof CancelledError) span?.end(new TrellisError("cancelled", err.message));
      else span?.end(err);
      throw err;
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
