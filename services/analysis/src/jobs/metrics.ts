import { gauge, histogram } from "@trellis/runtime";
import type { Queue } from "bullmq";

/** What is read of a finished job (BullMQ's `Job`, whatever its data type). */
interface FinishedJob {
  processedOn?: number | undefined;
  finishedOn?: number | undefined;
}

/** The worker's events used here (BullMQ's `Worker`, whatever its data type). */
interface WorkerEvents {
  on(event: "completed", listener: (job: FinishedJob) => void): unknown;
  on(event: "failed", listener: (job: FinishedJob | undefined) => void): unknown;
}

const STATES = [
  "waiting",
  "active",
  "delayed",
  "prioritized",
  "waiting-children",
  "paused",
  "completed",
  "failed",
] as const;

/**
 * BullMQ metrics: the queue's job counts by state, read from Redis when Prometheus scrapes (one
 * pipelined call; every instance reports the same shared queue), and the duration of the jobs
 * this instance's worker ran.
 */
export function watchQueueMetrics(queue: Pick<Queue, "name" | "getJobCounts">, worker: WorkerEvents): void {
  gauge({
    name: "trellis_queue_jobs",
    help: "Jobs in the queue by state (read from Redis at scrape time)",
    labelNames: ["queue", "state"] as const,
    async collect() {
      try {
        const counts = await queue.getJobCounts(...STATES);
        for (const state of STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      } catch {
        // Redis unreachable: keep the last values (the health check reports Redis itself).
      }
    },
  });
  const seconds = histogram({
    name: "trellis_queue_job_duration_seconds",
    help: "Time one attempt of a job ran on this instance's worker, by outcome",
    labelNames: ["queue", "outcome"] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1_800, 3_600],
  });
  const observe = (job: FinishedJob | undefined, outcome: "completed" | "failed") => {
    if (job?.processedOn && job.finishedOn) {
      seconds.observe({ queue: queue.name, outcome }, Math.max(0, job.finishedOn - job.processedOn) / 1_000);
    }
  };
  worker.on("completed", (job) => observe(job, "completed"));
  worker.on("failed", (job) => observe(job, "failed"));
}
