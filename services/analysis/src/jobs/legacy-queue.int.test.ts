/**
 * The queue's rename to the hash-tagged `{analysis}`: jobs a Redis kept from before still hold under
 * the old name are moved, not stranded. Real Redis (the harness's), a key prefix of this file's own.
 */
import { uniqueSuffix } from "@trellis/stack/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrateLegacyQueue } from "./legacy-queue.ts";
import type { AnalysisQueue } from "./queue.ts";

const stack = inject("stack");
let redis: Redis;
const prefix = `test-legacy-${uniqueSuffix()}`;
const config = { ANALYSIS_QUEUE: "{analysis}", REDIS_KEY_PREFIX: prefix };

beforeAll(() => {
  redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const data = (analysisId: string) => ({ analysisId, videoId: "v", ownerId: "o", title: "t" });

describe("migrateLegacyQueue", () => {
  it("moves the untagged queue's unfinished jobs (same id, name, data) into {analysis}, drops the old queue", async () => {
    const legacy = new Queue("analysis", { connection: redis, prefix });
    const queue: AnalysisQueue = new Queue("{analysis}", { connection: redis, prefix });
    try {
      await legacy.add("analyze-video", data("a-waiting") as never, { jobId: "a-waiting" });
      await legacy.add("analyze-video", data("a-delayed") as never, { jobId: "a-delayed", delay: 3_600_000 });
      await legacy.add("analyze-video", data("a-second") as never, { jobId: "a-second" });
      expect(await redis.exists(`${prefix}:analysis:meta`)).toBe(1);

      expect(await migrateLegacyQueue(redis, config, queue)).toBe(3);

      const moved = await queue.getJobs(["wait", "delayed", "prioritized", "paused"]);
      expect(moved.map((j) => j.id).sort()).toEqual(["a-delayed", "a-second", "a-waiting"]);
      const waiting = await queue.getJob("a-waiting");
      expect(waiting?.name).toBe("analyze-video");
      expect(waiting?.data).toEqual(data("a-waiting"));
      // Every key of the new queue carries the hash tag: one Redis Cluster slot.
      const keys = await redis.keys(`${prefix}:*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) expect(k.startsWith(`${prefix}:{analysis}:`)).toBe(true);
      // Nothing left to move the next time.
      expect(await migrateLegacyQueue(redis, config, queue)).toBe(0);
    } finally {
      await legacy.close();
      await queue.close();
    }
  });

  it("does nothing for a queue name without a hash tag or without an old queue", async () => {
    const queue: AnalysisQueue = new Queue("{other}", { connection: redis, prefix: `${prefix}-2` });
    try {
      expect(
        await migrateLegacyQueue(
          redis,
          { ...config, REDIS_KEY_PREFIX: `${prefix}-2`, ANALYSIS_QUEUE: "{other}" },
          queue,
        ),
      ).toBe(0);
      expect(await migrateLegacyQueue(redis, { ...config, ANALYSIS_QUEUE: "plain" }, queue)).toBe(0);
    } finally {
      await queue.close();
    }
  });
});
