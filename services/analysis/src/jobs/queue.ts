import type { AnalysisJobData, AnalysisJobName } from "@trellis/contracts";
import { inSpan, SpanKind, traceCarrier, tracingEnabled } from "@trellis/runtime";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AnalysisConfig } from "../config.ts";

export type AnalysisQueue = Queue<AnalysisJobData, unknown, AnalysisJobName>;

export const JOB_NAME: AnalysisJobName = "analyze-video";

/** The analysis queue: jobs keyed by the analysis id, retried with exponential backoff. */
export function openQueue(redis: Redis, config: AnalysisConfig): AnalysisQueue {
  return new Queue<AnalysisJobData, unknown, AnalysisJobName>(config.ANALYSIS_QUEUE, {
    connection: redis,
    prefix: config.REDIS_KEY_PREFIX,
    defaultJobOptions: {
      attempts: config.JOB_ATTEMPTS,
      backoff: { type: "exponential", delay: config.JOB_BACKOFF_MS },
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
}

/**
 * Queues an analysis's job. With tracing on, a producer span whose context travels in the job's
 * data (`trace`): the worker's spans join the trace of the request that queued it.
 */
export async function enqueue(queue: AnalysisQueue, data: AnalysisJobData): Promise<void> {
  if (!tracingEnabled()) {
    await queue.add(JOB_NAME, data, { jobId: data.analysisId });
    return;
  }
  await inSpan(
    `publish ${JOB_NAME}`,
    { kind: SpanKind.PRODUCER, attributes: jobAttributes(queue.name, data.analysisId, "send") },
    async () => {
      const trace = traceCarrier();
      await queue.add(JOB_NAME, trace ? { ...data, trace } : data, { jobId: data.analysisId });
    },
  );
}

/** Attributes of a job's spans (OpenTelemetry messaging conventions). */
export const jobAttributes = (queueName: string, analysisId: string, operation: string) => ({
  "messaging.system": "bullmq",
  "messaging.destination.name": queueName,
  "messaging.operation.type": operation,
  "messaging.message.id": analysisId,
});
