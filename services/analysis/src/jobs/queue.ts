import type { AnalysisJobData, AnalysisJobName } from "@trellis/contracts";
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

export async function enqueue(queue: AnalysisQueue, data: AnalysisJobData): Promise<void> {
  await queue.add(JOB_NAME, data, { jobId: data.analysisId });
}
