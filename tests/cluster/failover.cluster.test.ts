/**
 * `npm run start:cluster` (issue 16, item 3), run as a user would: three NATS nodes, every stream
 * at 3 replicas, two instances of each service, two gateways. Devices publish readings with acks
 * over all three NATS URLs while the node that leads the readings stream is killed with SIGKILL:
 * every acknowledged reading is in the stream and in MongoDB exactly once, HTTP through both
 * gateways answers again within 10 s, the supervisor brings the node back; then the node leading
 * telemetry's durable ingest consumer is killed too, and ingest carries on on the new leader; a live SSE stream whose
 * consumer's node is killed ends asking the client to reconnect, and resuming misses nothing; and
 * SIGTERM leaves no process. Slow (a whole scaled-out stack on two cores): `npm run test:cluster`, not `npm test`.
 */
import { deviceSubjects, LIVE_STREAM, READINGS_CONSUMER, READINGS_STREAM } from "@trellis/contracts";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, createMonitors, createOwner, deviceTargets, login } from "../../scripts/devices/platform.ts";
import { type PublishStats, publishPaced } from "../../scripts/devices/publisher.ts";
import {
  ADMIN,
  alive,
  connectAsService,
  connectWithRetry,
  freePortRun,
  type Launched,
  launch,
  readyz,
} from "../support/launch.ts";
import { storedReadings } from "../support/readings.ts";
import { parseSseBlock, type ReceivedEvent } from "../support/sse.ts";

let stack: Launched;
let token: string;

beforeAll(async () => {
  const port = await freePortRun(2);
  const natsPort = await freePortRun(3);
  const routePort = await freePortRun(3);
  stack = await launch(
    "start-cluster.ts",
    { PORT: String(port), NATS_PORT: String(natsPort), NATS_CLUSTER_PORT: String(routePort) },
    180_000,
  );
  token = await login(stack.ready.gateways[0] as string, ADMIN.username, ADMIN.password);
}, 240_000);

afterAll(async () => {
  if (stack && stack.child.exitCode === null) await stack.stop();
});

const nodeConfig = () => `${stack.dataDir}/cluster/nats-1/nats.conf`;

const until = async (ok: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/**
 * `GET /api/v2/live` (the admin: every monitor) read as it arrives. With `reconnect`, it behaves as
 * a browser's `EventSource` does: when the stream ends (an `error` event, the connection cut, a
 * non-200 answer) it connects again after the server's `retry:` with the last id it saw as
 * `Last-Event-ID`. Each connection's outcome is kept, to say what happened when a test fails.
 */
function openLive(base: string, lastEventId?: string, options: { reconnect?: boolean } = {}) {
  const abort = new AbortController();
  const live = {
    events: [] as ReceivedEvent[],
    ended: false,
    connections: [] as string[],
    close: () => abort.abort(),
  };
  let lastId = lastEventId;
  let retryMs = 3_000;
  const connectOnce = async (): Promise<void> => {
    const startedAt = Date.now();
    const before = live.events.length;
    let outcome = "";
    try {
      const res = await fetch(`${base}/api/v2/live`, {
        headers: { authorization: `Bearer ${token}`, ...(lastId ? { "last-event-id": lastId } : {}) },
        signal: abort.signal,
      });
      outcome = `HTTP ${res.status}`;
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          const retry = /^retry: (\d+)$/m.exec(block);
          if (retry) retryMs = Number(retry[1]);
          const event = parseSseBlock(block);
          if (event) {
            live.events.push(event);
            if (event.id !== "") lastId = event.id;
            if (event.event === "error") outcome += `, error ${JSON.stringify(event.data)}`;
          }
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf("\n\n");
        }
      }
      outcome += ", ended";
    } catch (err) {
      outcome += `, ${abort.signal.aborted ? "closed by the test" : `failed: ${(err as Error).message}`}`;
    }
    live.connections.push(`${outcome} after ${Date.now() - startedAt} ms, ${live.events.length - before} events`);
  };
  void (async () => {
    await connectOnce();
    while (options.reconnect && !abort.signal.aborted) {
      await new Promise((r) => setTimeout(r, retryMs));
      if (!abort.signal.aborted) await connectOnce();
    }
    live.ended = true;
  })();
  return live;
}

/** One authenticated API call through a gateway: 200 when a service answered it. */
async function listMonitors(base: string): Promise<number> {
  try {
    const res = await fetch(`${base}/api/v2/monitors?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(3_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

describe("npm run start:cluster", () => {
  it("runs three NATS nodes, two instances of every service and two gateways; every stream has 3 replicas", async () => {
    const state = stack.state();
    expect(state.mode).toBe("cluster");
    expect(stack.ready.gateways).toHaveLength(2);
    expect(stack.ready.nats).toHaveLength(3);
    const names = Object.keys(state.processes);
    expect(names.filter((n) => n.startsWith("nats-")).sort()).toEqual(["nats-1", "nats-2", "nats-3"]);
    for (const s of ["gateway", "auth", "telemetry", "media", "analysis"]) {
      expect(names).toContain(`${s}-1`);
      expect(names).toContain(`${s}-2`);
    }
    for (const p of Object.values(state.processes)) expect(alive(p.pid)).toBe(true);
    for (const g of stack.ready.gateways) expect((await readyz(g)).status).toBe(200);

    const { nc, jsm } = await connectAsService(stack.ready.nats, nodeConfig());
    try {
      const streams: Record<string, number> = {};
      for await (const s of jsm.streams.list()) streams[s.config.name] = s.config.num_replicas;
      expect(Object.keys(streams)).toContain(READINGS_STREAM);
      for (const [name, replicas] of Object.entries(streams)) expect(replicas, name).toBe(3);
    } finally {
      await nc.close();
    }
  });

  it("kill -9 of the readings stream's leader under load, then of the ingest consumer's: nothing acked is lost or doubled, both gateways answer within 10 s", async () => {
    const [g1, g2] = stack.ready.gateways as [string, string];
    const owner = await createOwner(g1, token);
    const devices = await createMonitors(g1, token, owner, 4);
    const conns = await connectWithRetry(stack.ready.nats.join(","), devices);
    const { nc, jsm } = await connectAsService(stack.ready.nats, nodeConfig());
    // The test before killed two nodes: the live stream has a leader and its replicas caught up.
    await until(async () => {
      const cluster = (await jsm.streams.info(LIVE_STREAM).catch(() => undefined))?.cluster;
      const replicas = cluster?.replicas ?? [];
      return cluster?.leader !== undefined && replicas.length === 2 && replicas.every((r) => r.current);
    }, 60_000);
    const stop = new AbortController();
    let stats: PublishStats | undefined;
    const publishing = publishPaced(deviceTargets(devices, conns), {
      rate: 100,
      durationMs: 5 * 60_000,
      inFlight: 128,
      signal: stop.signal,
    }).then((s) => {
      stats = s;
    });
    let killed: string;
    let consumerNode: string;
    let pid: number;
    try {
      await new Promise((r) => setTimeout(r, 4_000));
      const leader = (await jsm.streams.info(READINGS_STREAM)).cluster?.leader;
      expect(leader).toMatch(/^trellis-[123]$/);
      killed = `nats-${(leader as string).slice("trellis-".length)}`;
      pid = stack.state().processes[killed]?.pid as number;
      const killedAt = Date.now();
      process.kill(pid, "SIGKILL");

      // HTTP through both gateways: an authenticated call that needs a service, and /readyz.
      let answeredMs = Number.POSITIVE_INFINITY;
      while (Date.now() - killedAt < 10_000) {
        const codes = await Promise.all([listMonitors(g1), listMonitors(g2), readyz(g1), readyz(g2)]);
        if (codes[0] === 200 && codes[1] === 200 && codes[2].status === 200 && codes[3].status === 200) {
          answeredMs = Date.now() - killedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(answeredMs, "both gateways answering after the leader's loss").toBeLessThan(10_000);

      // A leader again; readings keep being acked meanwhile. Usually one of the two others; but the
      // supervisor restarts the killed node within a second or so, and the restarted node (a new
      // process on the same store) may win the election itself: that is a failover too, as long as
      // the leader is not the killed process (CI saw the restarted trellis-2 re-elected).
      const deadline = Date.now() + 20_000;
      let newLeader: string | undefined;
      let restartedLeader = false;
      while (Date.now() < deadline) {
        newLeader = await jsm.streams
          .info(READINGS_STREAM)
          .then((i) => i.cluster?.leader)
          .catch(() => undefined);
        if (newLeader && newLeader !== leader) break;
        const current = stack.state().processes[killed];
        if (newLeader === leader && current?.state === "up" && current.pid !== pid) {
          restartedLeader = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(newLeader).toMatch(/^trellis-[123]$/);
      if (!restartedLeader) expect(newLeader).not.toBe(leader);
      process.stderr.write(
        `cluster: killed ${killed} (leader ${leader}), new leader ${newLeader}${restartedLeader ? " (the restarted node)" : ""}, HTTP answered after ${answeredMs} ms\n`,
      );

      // Then the node leading telemetry's durable ingest consumer, once the first is back and
      // caught up (two nodes down at once would be a lost quorum, not a failover).
      await until(async () => {
        const p = stack.state().processes[killed];
        if (p?.state !== "up" || p.pid === pid) return false;
        const replicas = (await jsm.streams.info(READINGS_STREAM).catch(() => undefined))?.cluster?.replicas ?? [];
        return replicas.length === 2 && replicas.every((r) => r.current);
      }, 60_000);
      // The consumer may still be electing its leader after the stream's failover: its info
      // request times out meanwhile (seen in CI), so it is asked again until it names one.
      let consumerLeader: string | undefined;
      await until(async () => {
        consumerLeader = (await jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER).catch(() => undefined))?.cluster
          ?.leader;
        return consumerLeader !== undefined;
      }, 30_000);
      expect(consumerLeader).toMatch(/^trellis-[123]$/);
      consumerNode = `nats-${(consumerLeader as string).slice("trellis-".length)}`;
      process.kill(stack.state().processes[consumerNode]?.pid as number, "SIGKILL");
      await new Promise((r) => setTimeout(r, 12_000));
      process.stderr.write(`cluster: then killed ${consumerNode} (leader of ${READINGS_CONSUMER})\n`);
    } finally {
      stop.abort();
      await publishing;
      await closeAll(conns);
    }
    try {
      const s = stats as PublishStats;
      expect(s.failed, JSON.stringify([...s.failures])).toBe(0);
      expect(s.acked).toBe(s.sent);
      expect(s.sent).toBeGreaterThan(500);

      // In the stream exactly once: the count of messages on these monitors' subjects.
      const info = await jsm.streams.info(READINGS_STREAM, { subjects_filter: deviceSubjects.readingsWildcard });
      const subjects = info.state.subjects ?? {};
      const inStream = devices.reduce((n, d) => n + (subjects[deviceSubjects.readings(d.id)] ?? 0), 0);
      expect(inStream).toBe(s.acked);

      // In MongoDB exactly once (each reading's stream sequence in one bucket).
      const mongo = new MongoClient(stack.state().mongo as string);
      try {
        const db = mongo.db("trellis_telemetry");
        const ids = devices.map((d) => d.id);
        const until = Date.now() + 30_000;
        let stored = await storedReadings(db, ids);
        while (stored.distinct < s.acked && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 250));
          stored = await storedReadings(db, ids);
        }
        expect(stored).toEqual({ physical: s.acked, distinct: s.acked });
      } finally {
        await mongo.close();
      }
      // The supervisor brought the nodes back.
      // Twice when the consumer's leader was on the node killed first.
      await until(() => stack.state().processes[killed]?.state === "up", 30_000);
      expect(stack.state().processes[killed]).toMatchObject({
        restarts: consumerNode === killed ? 2 : 1,
        lastExit: "killed by SIGKILL",
      });
      await until(() => stack.state().processes[consumerNode]?.state === "up", 30_000);
      // The ingest consumer kept consuming on its new leader: nothing left pending.
      await until(async () => {
        const c = await jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER).catch(() => undefined);
        return c !== undefined && c.num_pending + c.num_ack_pending === 0;
      }, 30_000);
    } finally {
      await nc.close();
    }
  }, 180_000);

  it("a live SSE stream whose consumer's node is killed ends asking to reconnect; resuming from Last-Event-ID misses nothing", async () => {
    const [g1, g2] = stack.ready.gateways as [string, string];
    const owner = await createOwner(g1, token);
    const devices = await createMonitors(g1, token, owner, 2);
    const conns = await connectWithRetry(stack.ready.nats.join(","), devices);
    const { nc, jsm } = await connectAsService(stack.ready.nats, nodeConfig());
    // The test before killed two nodes: the live stream has a leader and its replicas caught up.
    await until(async () => {
      const cluster = (await jsm.streams.info(LIVE_STREAM).catch(() => undefined))?.cluster;
      const replicas = cluster?.replicas ?? [];
      return cluster?.leader !== undefined && replicas.length === 2 && replicas.every((r) => r.current);
    }, 60_000);
    const stop = new AbortController();
    const publishing = publishPaced(deviceTargets(devices, conns), {
      rate: 20,
      durationMs: 5 * 60_000,
      inFlight: 32,
      signal: stop.signal,
    });
    // Opened as a browser does: if the cluster is still settling, it connects again until it flows.
    const first = openLive(g1, undefined, { reconnect: true });
    let second: ReturnType<typeof openLive> | undefined;
    try {
      await until(() => first.events.filter((e) => e.event === "reading").length >= 10, 45_000).catch((err) => {
        throw new Error(
          `${(err as Error).message}; the first stream's connections: ${first.connections.join("; ") || "still open"}, ` +
            `${first.events.length} events (${first.events.filter((e) => e.event === "reading").length} readings)`,
        );
      });
      // The stream's consumer: one in-memory replica, on one node; the one that has delivered the
      // most if a connection that ended while the cluster settled left one behind for a while.
      let node: string | undefined;
      let delivered = -1;
      for await (const c of jsm.consumers.list(LIVE_STREAM)) {
        if (c.name.startsWith("live_") && c.delivered.stream_seq > delivered) {
          delivered = c.delivered.stream_seq;
          node = c.cluster?.leader;
        }
      }
      expect(node).toMatch(/^trellis-[123]$/);
      const name = `nats-${(node as string).slice("trellis-".length)}`;
      const flowing = first.connections.length;
      const killedAt = Date.now();
      process.kill(stack.state().processes[name]?.pid as number, "SIGKILL");
      await until(() => first.connections.length > flowing || first.events.at(-1)?.event === "error", 30_000);
      // This test resumes it itself, through the other gateway: no more reconnects of its own.
      first.close();
      const endedMs = Date.now() - killedAt;
      expect(first.events.at(-1)?.event, "the stream's last event").toBe("error");
      expect(first.events.at(-1)?.data).toEqual({ message: "live stream interrupted; reconnect to resume" });
      const lastId = [...first.events].reverse().find((e) => e.id !== "")?.id as string;

      // Resumed as a browser's EventSource would: through the other gateway, from the last id,
      // connecting again (after the server's retry:) if the cluster is still electing.
      const resumed = openLive(g2, lastId, { reconnect: true });
      second = resumed;
      await until(() => resumed.events.filter((e) => e.event === "reading").length >= 20, 45_000).catch((err) => {
        throw new Error(
          `${(err as Error).message}; the resumed stream's connections: ${resumed.connections.join("; ")}`,
        );
      });
      process.stderr.write(
        `cluster: live stream flowing after ${flowing + 1} connection(s), ended ${endedMs} ms after its node (${name}) was killed; resumed in ${resumed.connections.length + 1} connection(s)\n`,
      );
      // Stream sequences as ids: from the first event to the last, across both streams, no gap, none twice.
      const ids = [...first.events, ...resumed.events].filter((e) => e.id !== "").map((e) => Number(e.id));
      const firstId = ids[0] as number;
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => firstId + i));
    } finally {
      first.close();
      second?.close();
      stop.abort();
      await publishing;
      await closeAll(conns);
      await nc.close();
    }
  }, 240_000);

  it("SIGTERM stops everything and leaves no process", async () => {
    const pids = Object.values(stack.state().processes).map((p) => p.pid);
    expect(await stack.stop()).toEqual({ code: 0, stateFileLeft: false });
    expect(pids.filter(alive)).toEqual([]);
  }, 90_000);
});
