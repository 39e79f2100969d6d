import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binDir, freePort, waitForPort } from "@trellis/stack";
import { uniqueSuffix } from "@trellis/stack/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "./config.ts";
import { openRedis, redisOptions, redisSentinelConfigSchema } from "./redis.ts";

/** A real Redis Sentinel (redis-server --sentinel) watching the test run's Redis as `trellis-master`. */
let sentinel: ChildProcess | undefined;
let sentinelPort: number;
let dir: string;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  const redis = new URL(inject("stack").redisUrl);
  dir = mkdtempSync(join(tmpdir(), "trellis-sentinel-"));
  sentinelPort = await freePort();
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor trellis-master ${redis.hostname} ${redis.port} 1`,
      "",
    ].join("\n"),
  );
  sentinel = spawn(join(binDir(), "redis-server"), [conf, "--sentinel"], { stdio: "ignore" });
  await waitForPort(sentinelPort, 10_000);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  sentinel?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Redis through Sentinel", () => {
  it("reads REDIS_SENTINELS as host:port pairs and refuses anything else", () => {
    const ok = loadConfig(redisSentinelConfigSchema, { REDIS_SENTINELS: "s1:26379, s2:26380" });
    expect(ok.REDIS_SENTINEL_MASTER).toBe("mymaster");
    expect(redisOptions("rediss://u:p%40ss@ignored:1/3", ok)).toMatchObject({
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      name: "mymaster",
      username: "u",
      password: "p@ss",
      db: 3,
      tls: {},
    });
    expect(redisOptions("redis://h:1", {})).toBeUndefined();
    for (const bad of ["s1", "s1:port", "s1:1,", "http://s1:1"]) {
      expect(() => loadConfig(redisSentinelConfigSchema, { REDIS_SENTINELS: bad })).toThrow(/REDIS_SENTINELS/);
    }
  });

  it("connects to the master the sentinel names (the URL's host is not used)", async () => {
    const shutdown = { add: (_: string, run: () => unknown) => void closers.push(run) };
    const redis = await openRedis({ shutdown, instance: "sentinel-test" }, "redis://no-such-host.invalid:1", {
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_MASTER: "trellis-master",
    });
    const key = `t:sentinel:${uniqueSuffix()}`;
    await redis.set(key, "through sentinel", "EX", 60);
    // The same key, read directly from the master: it is the server the sentinel watches.
    const direct = await openRedis({ shutdown, instance: "direct" }, inject("stack").redisUrl);
    expect(await direct.get(key)).toBe("through sentinel");
  });
});
