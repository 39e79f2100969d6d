import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { backoffDelay, CrashWindow, runningOf, Supervisor, type Unit } from "./supervisor.ts";

describe("backoffDelay", () => {
  const policy = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0.5 };

  it("doubles per consecutive restart up to the cap (no jitter drawn)", () => {
    const none = () => 0;
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, policy, none))).toEqual([
      100, 200, 400, 800, 1_000, 1_000, 1_000,
    ]);
  });

  it("takes up to `jitter` of the delay off at random", () => {
    expect(backoffDelay(2, policy, () => 1)).toBe(200);
    expect(backoffDelay(2, policy, () => 0.5)).toBe(300);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it("without jitter is exact", () => {
    expect(backoffDelay(1, { initialMs: 50, maxMs: 500, jitter: 0 }, () => 0.9)).toBe(100);
  });
});

describe("CrashWindow", () => {
  it("5 restarts in 60 s are allowed, the sixth is a crash loop", () => {
    const w = new CrashWindow({ restarts: 5, windowMs: 60_000 });
    for (let i = 0; i < 5; i++) expect(w.record(i * 1_000)).toBe(false);
    expect(w.record(5_000)).toBe(true);
  });

  it("restarts older than the window no longer count", () => {
    const w = new CrashWindow({ restarts: 2, windowMs: 10_000 });
    expect(w.record(0)).toBe(false);
    expect(w.record(5_000)).toBe(false);
    expect(w.record(10_001)).toBe(false); // the one at 0 has left the window
    expect(w.count(10_001)).toBe(2);
    expect(w.record(12_000)).toBe(true);
  });
});

/** A unit running `node -e <script>`; counts its starts. */
function nodeUnit(name: string, script: string): Unit & { starts: number } {
  const unit = {
    name,
    kind: "service" as const,
    starts: 0,
    async start() {
      unit.starts++;
      return runningOf(spawn(process.execPath, ["-e", script], { stdio: "ignore" }), 2_000);
    },
  };
  return unit;
}

const waitFor = async (ok: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
};

const alive = (pid: number | undefined) => {
  try {
    process.kill(pid as number, 0);
    return true;
  } catch {
    return false;
  }
};

describe("Supervisor", () => {
  const fast = { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

  it("restarts a process killed with SIGKILL, logs the cause, and stopAll leaves nothing running", async () => {
    const lines: string[] = [];
    const sup = new Supervisor({ ...fast, log: (l) => lines.push(l), onGiveUp: () => {} });
    const unit = nodeUnit("svc-1", "setInterval(() => {}, 1000)");
    await sup.add(unit);
    const first = sup.pids()["svc-1"];
    expect(alive(first)).toBe(true);
    process.kill(first as number, "SIGKILL");
    await waitFor(() => sup.pids()["svc-1"] !== undefined && sup.pids()["svc-1"] !== first);
    expect(unit.starts).toBe(2);
    expect(lines.some((l) => l.includes("svc-1 killed by SIGKILL unexpectedly"))).toBe(true);
    expect(sup.snapshot()["svc-1"]).toMatchObject({ state: "up", restarts: 1, lastExit: "killed by SIGKILL" });
    const second = sup.pids()["svc-1"];
    await sup.stopAll();
    expect(alive(second)).toBe(false);
    expect(sup.snapshot()["svc-1"]?.state).toBe("stopped");
    expect(unit.starts).toBe(2); // a graceful stop is not restarted
  });

  it("stopAll during a first start waits for it and stops what it started (Ctrl-C during start-up)", async () => {
    const sup = new Supervisor({ ...fast, log: () => {}, onGiveUp: () => {} });
    let pid: number | undefined;
    const slow: Unit = {
      name: "slow",
      kind: "service",
      async start() {
        const running = runningOf(spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }));
        pid = running.pid;
        await new Promise((r) => setTimeout(r, 200));
        return running;
      },
    };
    const adding = sup.add(slow);
    await new Promise((r) => setTimeout(r, 50));
    await sup.stopAll();
    await adding;
    expect(alive(pid)).toBe(false);
    // Nothing starts once stopping.
    const late = nodeUnit("late", "setInterval(() => {}, 1000)");
    await sup.add(late);
    expect(late.starts).toBe(0);
  });

  it("a process exiting over and over is a crash loop: it gives up with a message naming it", async () => {
    let reason: string | undefined;
    const sup = new Supervisor({
      ...fast,
      crashLoop: { restarts: 3, windowMs: 60_000 },
      log: () => {},
      onGiveUp: (r) => {
        reason = r;
      },
    });
    const unit = nodeUnit("flaky", "process.exit(3)");
    await sup.add(unit);
    await waitFor(() => reason !== undefined);
    expect(reason).toMatch(
      /flaky is crash-looping: it exited more than 3 times within 60 s \(last: exited with code 3\)/,
    );
    expect(unit.starts).toBe(4); // the first start and 3 restarts
    await new Promise((r) => setTimeout(r, 100));
    expect(unit.starts).toBe(4); // no restart after giving up
    await sup.stopAll();
  });

  it("a restart that fails is retried with backoff, and stopAll waits for a restart under way", async () => {
    let failNext = 2;
    const lines: string[] = [];
    const sup = new Supervisor({ ...fast, log: (l) => lines.push(l), onGiveUp: () => {} });
    const inner = nodeUnit("server-1", "setInterval(() => {}, 1000)");
    const unit: Unit = {
      name: "server-1",
      kind: "server",
      async start() {
        if (inner.starts > 0 && failNext-- > 0) {
          inner.starts++;
          throw new Error("port busy");
        }
        return inner.start();
      },
    };
    await sup.add(unit);
    const first = sup.pids()["server-1"];
    process.kill(first as number, "SIGKILL");
    expect(sup.down()).toEqual([]); // not yet noticed
    await waitFor(() => sup.down().length === 1);
    await waitFor(() => sup.down().length === 0);
    expect(lines.filter((l) => l.includes("failed to restart (port busy)"))).toHaveLength(2);
    const pid = sup.pids()["server-1"];
    await sup.stopAll();
    expect(alive(pid)).toBe(false);
  });
});
