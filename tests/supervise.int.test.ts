/**
 * `npm start` survives crashes (issue 16, item 1): the real start script with local binaries, a
 * device publishing readings with acks throughout, then kill -9 of a service and of each server
 * (NATS, FerretDB, Redis). Each is restarted by the supervisor and every gateway's /readyz is 200
 * again within 30 s; /readyz names what is down meanwhile; no acknowledged reading is lost or
 * stored twice; SIGTERM stops everything and leaves no process.
 */
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, createMonitors, createOwner, deviceTargets, login } from "../scripts/devices/platform.ts";
import { type PublishStats, publishPaced } from "../scripts/devices/publisher.ts";
import {
  ADMIN,
  alive,
  connectWithRetry,
  freePortRun,
  killAndWaitReady,
  type Launched,
  launch,
} from "./support/launch.ts";
import { storedReadings } from "./support/readings.ts";

const RECOVERY_MS = 30_000;
let stack: Launched;

beforeAll(async () => {
  const [port, natsPort] = [await freePortRun(1), await freePortRun(1)];
  stack = await launch("start.ts", { PORT: String(port), NATS_PORT: String(natsPort) }, 90_000);
}, 120_000);

afterAll(async () => {
  if (stack && stack.child.exitCode === null) await stack.stop();
});

describe("npm start under kill -9", () => {
  it("prints a machine-readable ready line and lists every process with its pid", () => {
    const state = stack.state();
    expect(state.ready).toBe(true);
    expect(stack.ready.gateways).toHaveLength(1);
    expect(Object.keys(state.processes).sort()).toEqual(
      ["analysis", "auth", "gateway", "media", "mongo", "nats", "redis", "telemetry"].sort(),
    );
    for (const p of Object.values(state.processes)) {
      expect(p.state).toBe("up");
      expect(alive(p.pid)).toBe(true);
    }
  });

  it("a service and each server killed with SIGKILL come back, ready within 30 s, and no acked reading is lost", async () => {
    const base = stack.ready.gateways[0] as string;
    const token = await login(base, ADMIN.username, ADMIN.password);
    const owner = await createOwner(base, token);
    const devices = await createMonitors(base, token, owner, 3);
    const conns = await connectWithRetry(stack.ready.nats.join(","), devices);
    const stop = new AbortController();
    let stats: PublishStats | undefined;
    const publishing = publishPaced(deviceTargets(devices, conns), {
      rate: 40,
      durationMs: 10 * 60_000,
      inFlight: 64,
      signal: stop.signal,
    }).then((s) => {
      stats = s;
    });
    try {
      const recoveries: Record<string, number> = {};
      const seen: Record<string, string[]> = {};
      for (const name of ["telemetry", "nats", "mongo", "redis"]) {
        const r = await killAndWaitReady(stack, name, RECOVERY_MS);
        recoveries[name] = r.recoveredMs;
        seen[name] = [...new Set(r.downSeen.flat())];
        expect(r.recoveredMs, `${name} recovery`).toBeLessThan(RECOVERY_MS);
        const after = stack.state().processes[name];
        expect(after?.restarts).toBe(1);
        expect(after?.lastExit).toBe("killed by SIGKILL");
        expect(stack.stderr()).toContain(`${name} killed by SIGKILL unexpectedly; restarting it`);
        // What /readyz said meanwhile named what was down (when the outage outlasted a probe).
        for (const down of r.downSeen) expect(down.length).toBeGreaterThan(0);
        // (NATS: "nats" while the gateway itself reconnects, then the services not yet back.)
        if (name === "telemetry" && r.downSeen.length > 0) expect(r.downSeen.flat()).toContain("telemetry");
      }
      process.stderr.write(
        `supervise: recovery (ms) ${JSON.stringify(recoveries)}; /readyz down ${JSON.stringify(seen)}\n`,
      );
    } finally {
      stop.abort();
      await publishing;
      await closeAll(conns);
    }
    const s = stats as PublishStats;
    expect(s.failed, JSON.stringify([...s.failures])).toBe(0);
    expect(s.acked).toBe(s.sent);
    expect(s.sent).toBeGreaterThan(100);

    // Every acked reading stored once: each stream sequence in one bucket (a reading stored twice
    // in the stream would be two sequences, one stored twice would count twice in `physical`).
    const mongo = new MongoClient(stack.state().mongo as string);
    try {
      const db = mongo.db("trellis_telemetry");
      const ids = devices.map((d) => d.id);
      const deadline = Date.now() + 30_000;
      let stored = await storedReadings(db, ids);
      while (stored.distinct < s.acked && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        stored = await storedReadings(db, ids);
      }
      expect(stored).toEqual({ physical: s.acked, distinct: s.acked });
    } finally {
      await mongo.close();
    }
  }, 240_000);

  it("SIGTERM stops everything gracefully and leaves no process", async () => {
    const pids = Object.values(stack.state().processes).map((p) => p.pid);
    expect(pids.every(alive)).toBe(true);
    expect(await stack.stop()).toEqual({ code: 0, stateFileLeft: false });
    expect(pids.filter(alive)).toEqual([]);
  }, 60_000);
});
