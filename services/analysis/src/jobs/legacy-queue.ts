import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AnalysisConfig } from "../config.ts";
import type { AnalysisQueue } from "./queue.ts";

/** Job states that still have work to do; finished jobs are history (the analyses are in MongoDB). */
const UNFINISHED = ["wait", "paused", "prioritized", "delayed", "waiting-children", "active"] as const;

/**
 * The queue's name used to be `analysis`; it is `{analysis}` now, a Redis Cluster hash tag that
 * puts all of the queue's keys in one slot (BullMQ's Lua scripts touch several keys at once). A
 * Redis kept from before (`.data/redis`) may still hold jobs under the old name, which no worker
 * reads any more: each unfinished one (waiting, delayed, or active when its worker died) is added
 * to the new queue with the same job id, name and data (idempotent: two instances migrating at
 * once add each job once), then the old queue is removed. Finished jobs go with it: BullMQ keeps
 * them 7 days for nothing but its own bookkeeping. Returns the jobs moved.
 */
export async function migrateLegacyQueue(
  redis: Redis,
  config: Pick<AnalysisConfig, "ANALYSIS_QUEUE" | "REDIS_KEY_PREFIX">,
  queue: AnalysisQueue,
): Promise<number> {
  const legacyName = /^\{(.+)\}$/.exec(config.ANALYSIS_QUEUE)?.[1];
  if (!legacyName) return 0;
  // BullMQ writes `<prefix>:<name>:meta` and `:id` for any queue that was ever used.
  const [meta, id] = await Promise.all([
    redis.exists(`${config.REDIS_KEY_PREFIX}:${legacyName}:meta`),
    redis.exists(`${config.REDIS_KEY_PREFIX}:${legacyName}:id`),
  ]);
  if (meta === 0 && id === 0) return 0;
  const legacy: AnalysisQueue = new Queue(legacyName, { connection: redis, prefix: config.REDIS_KEY_PREFIX });
  try {
    const jobs = await legacy.getJobs([...UNFINISHED]);
    for (const job of jobs) {
      if (job.id === undefined) continue;
      await queue.add(job.name, job.data, { jobId: job.id });
    }
    await legacy.obliterate({ force: true }).catch(async (err: unknown) => {
      // Another instance obliterated it meanwhile: nothing left to do.
      if (await redis.exists(`${config.REDIS_KEY_PREFIX}:${legacyName}:meta`)) throw err;
    });
    return jobs.length;
  } finally {
    await legacy.close();
  }
}
