import { Redis, type RedisOptions } from "ioredis";
import { z } from "zod";

/**
 * Redis through Sentinel (a highly available Redis): set REDIS_SENTINELS and the services ask the
 * sentinels for the current master of REDIS_SENTINEL_MASTER, and follow it on failover. REDIS_URL
 * then gives only the master's credentials, database and TLS (its host is not used).
 */
export const redisSentinelConfigSchema = z.object({
  /** Sentinels as `host:port`, comma-separated; set, Redis is reached through them (REDIS_URL then gives credentials, database and TLS only). */
  REDIS_SENTINELS: z
    .string()
    .regex(/^\s*[^,:\s]+:\d{1,5}\s*(,\s*[^,:\s]+:\d{1,5}\s*)*$/, "must be host:port[,host:port...]")
    .optional(),
  /** The master's name the sentinels know. */
  REDIS_SENTINEL_MASTER: z.string().min(1).max(200).default("mymaster"),
  /** Password of the sentinels themselves (the master's comes from REDIS_URL). */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
});
export type RedisSentinelConfig = z.output<typeof redisSentinelConfigSchema>;

/** ioredis options for `url`, through the sentinels when `sentinel.REDIS_SENTINELS` is set. */
export function redisOptions(url: string, sentinel?: Partial<RedisSentinelConfig>): RedisOptions | undefined {
  if (!sentinel?.REDIS_SENTINELS) return undefined;
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || "0");
  return {
    sentinels: sentinel.REDIS_SENTINELS.split(",").map((s) => {
      const [host, port] = s.trim().split(":");
      return { host: host as string, port: Number(port) };
    }),
    name: sentinel.REDIS_SENTINEL_MASTER ?? "mymaster",
    ...(sentinel.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: sentinel.REDIS_SENTINEL_PASSWORD } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === "rediss:" ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * Connects to Redis (directly by URL, or through Sentinel) and closes the connection on shutdown.
 * `maxRetriesPerRequest: null` is what BullMQ requires of its connections; commands queue while
 * Redis is briefly away.
 */
export async function openRedis(
  ctx: {
    shutdown: { add(name: string, run: () => unknown): void };
    instance: string;
    log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  },
  url: string,
  sentinel?: Partial<RedisSentinelConfig>,
): Promise<Redis> {
  const common = { connectionName: ctx.instance, maxRetriesPerRequest: null, lazyConnect: true } as const;
  const viaSentinel = redisOptions(url, sentinel);
  const redis = viaSentinel ? new Redis({ ...viaSentinel, ...common }) : new Redis(url, common);
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
