import { Redis } from "ioredis";

/**
 * Connects to Redis and closes the connection on shutdown. `maxRetriesPerRequest: null` is what
 * BullMQ requires of its connections; commands queue while Redis is briefly away.
 */
export async function openRedis(
  ctx: { shutdown: { add(name: string, run: () => unknown): void }; instance: string },
  url: string,
): Promise<Redis> {
  const redis = new Redis(url, { connectionName: ctx.instance, maxRetriesPerRequest: null, lazyConnect: true });
  await redis.connect();
  ctx.shutdown.add("redis client", async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  return redis;
}
