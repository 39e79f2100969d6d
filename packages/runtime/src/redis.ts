import { Redis } from "ioredis";

/**
 * Connects to Redis and closes the connection on shutdown. `maxRetriesPerRequest: null` is what
 * BullMQ requires of its connections; commands queue while Redis is briefly away.
 */
export async function openRedis(
  ctx: {
    shutdown: { add(name: string, run: () => unknown): void };
    instance: string;
    log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  },
  url: string,
): Promise<Redis> {
  const redis = new Redis(url, { connectionName: ctx.instance, maxRetriesPerRequest: null, lazyConnect: true });
  // Without a listener ioredis prints every failed reconnect attempt as an unhandled error: one
  // warning per outage instead, and one line when it is back.
  let lost = false;
  redis.on("error", (err: Error) => {
    if (lost) return;
    lost = true;
    ctx.log?.warn({ err: err.message }, "redis connection lost; reconnecting");
  });
  redis.on("ready", () => {
    if (!lost) return;
    lost = false;
    ctx.log?.info({}, "redis reconnected");
  });
  await redis.connect();
  ctx.shutdown.add("redis client", async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  return redis;
}
