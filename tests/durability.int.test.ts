/**
 * The durability the servers are run with (docs/durability.md), read back from the running servers
 * rather than from the configuration that was written: NATS through its monitoring endpoint
 * (`/varz`, the effective JetStream configuration), Redis through `CONFIG GET` / `INFO`.
 */
import { type Dependency, startNats } from "@trellis/stack";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const stack = inject("stack");

describe("durability settings in effect", () => {
  let nats: Dependency;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it("NATS: JetStream fsyncs every write before the ack (sync_interval: always)", async () => {
    // A server given by TRELLIS_NATS_URL is checked through TRELLIS_NATS_MONITOR_URL.
    expect(
      nats.monitorUrl,
      "the NATS server's monitoring URL (TRELLIS_NATS_MONITOR_URL for a given server)",
    ).toBeTruthy();
    const res = await fetch(`${nats.monitorUrl}/varz`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    const varz = (await res.json()) as { jetstream?: { config?: { sync_always?: boolean; store_dir?: string } } };
    expect(varz.jetstream?.config?.store_dir).toBeTruthy(); // JetStream is on
    expect(varz.jetstream?.config?.sync_always).toBe(true);
  });

  it("Redis: append-only file fsynced every second, no eviction", async () => {
    const redis = new Redis(stack.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const get = async (key: string) => ((await redis.config("GET", key)) as string[])[1];
      expect(await get("appendonly")).toBe("yes");
      expect(await get("appendfsync")).toBe("everysec");
      expect(await get("maxmemory-policy")).toBe("noeviction");
      // In effect, not only configured: the AOF is open.
      expect(await redis.info("persistence")).toMatch(/^aof_enabled:1\r?$/m);
    } finally {
      redis.disconnect();
    }
  });
});
