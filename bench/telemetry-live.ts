/**
 * `bench:telemetry`, live readings section (issue 11; alone: `BENCH_ONLY=live npm run bench:telemetry`).
 *
 * Simulated devices publish BENCH_LIVE_RATE readings/s (default 1,000) over NATS, spread over
 * BENCH_LIVE_MONITORS monitors (default 50), for BENCH_LIVE_SECONDS (default 15), while
 * BENCH_LIVE_CLIENTS_PER_MONITOR SSE clients per monitor (default 10: 500 clients) follow
 * `GET /api/v2/monitors/{id}/live` through the gateway (plain `node:http` streaming clients in
 * this process, with the monitors' owner's access token). Printed:
 * - publish → SSE client latency p50/p99/max (reading `timestamp`, stamped when it is generated
 *   and published, to the client parsing the event; one clock), goal p99 < 100 ms;
 * - baseline, same run: publish → a JetStream consumer of `TELEMETRY_LIVE` in this process (the
 *   reading stored by telemetry and published to the live stream, no gateway), and the ratio;
 * - fan-out alone: the same rate of live events published straight to the live subjects by this
 *   process (no ingest round before them), to the same clients: what the live stream, the
 *   gateway's consumers and SSE add to a stored reading, against the same direct consumer;
 * - every client got every event of its monitor, in order, once (ids strictly increasing);
 * - gateway RSS before the clients connect, once connected, while streaming (peak, and at 1/3,
 *   2/3 and the end, to see whether it levels off), and once the clients are gone;
 * - CPU per process per phase.
 * BENCH_LIVE_CLIENTS_PER_MONITOR=0 runs the baseline alone; BENCH_LIVE_DEBUG=1 also prints the
 * ingest consumer's and the live stream's state after the run.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { performance } from "node:perf_hooks";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { LIVE_STREAM, liveSubjects } from "@trellis/contracts";
import { freePort } from "@trellis/stack";
import { api, closeAll, connectDevices, createMonitors, deviceTargets, login } from "../scripts/devices/platform.ts";
import { publishPaced, Reservoir } from "../scripts/devices/publisher.ts";
import { type CpuPhase, fmt, measureCpu, printCpuTable, startBench } from "./support.ts";

const int = (name: string, fallback: number, min = 1) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}`);
  return v;
};

const log = (line: string) => process.stderr.write(`bench live: ${line}\n`);
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : "n/a");
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

/** Resident set size of a process (KiB), from /proc. */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

interface SseClient {
  monitor: number;
  received: number;
  /** Events whose id was not above the previous one (duplicates or out of order). */
  disorder: number;
  lastId: number;
  other: string[];
  close(): void;
}

/** One streaming SSE client: resolves once the response headers are in (status 200). */
function openClient(
  agent: Agent,
  url: URL,
  bearer: string,
  monitor: number,
  onReading: (at: number) => void,
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const client: SseClient = { monitor, received: 0, disorder: 0, lastId: 0, other: [], close: () => req.destroy() };
    const req = httpRequest(
      url,
      { agent, headers: { authorization: `Bearer ${bearer}`, accept: "text/event-stream" } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`SSE ${url.pathname}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding("utf8");
        let pending = "";
        res.on("data", (chunk: string) => {
          pending += chunk;
          let cut = pending.indexOf("\n\n");
          while (cut >= 0) {
            const block = pending.slice(0, cut);
            pending = pending.slice(cut + 2);
            cut = pending.indexOf("\n\n");
            let id = 0;
            let event = "";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) id = Number(line.slice(4));
              else if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("data: ")) data = line.slice(6);
            }
            if (event === "reading") {
              onReading((JSON.parse(data) as { at: number }).at);
              client.received++;
              if (!(id > client.lastId)) client.disorder++;
              client.lastId = id;
            } else if (event !== "") client.other.push(event);
          }
        });
        res.on("error", () => {});
        resolve(client);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The live-readings benchmark; skipped when BENCH_ONLY names another section. */
export async function benchTelemetryLive(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  if (only !== undefined && only !== "" && only !== "live") return;
  const RATE = int("BENCH_LIVE_RATE", 1_000);
  const MONITORS = int("BENCH_LIVE_MONITORS", 50);
  const PER_MONITOR = int("BENCH_LIVE_CLIENTS_PER_MONITOR", 10, 0);
  const SECONDS = int("BENCH_LIVE_SECONDS", 15);
  const CLIENTS = MONITORS * PER_MONITOR;
  const admin = { username: "bench-admin", password: `Bench-Admin-${randomBytes(6).toString("hex")}` };

  const bench = await startBench();
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const { stack } = bench;
    const natsAuth = stack.nats.natsAuth;
    if (!natsAuth) throw new Error("the NATS server has no service credentials (auth callout is required)");
    const names = new Map<number, string>();
    const auth = await bench.start("auth", {
      TRELLIS_ADMIN_USERNAME: admin.username,
      TRELLIS_ADMIN_PASSWORD: admin.password,
    });
    names.set(auth.pid, "auth");
    const telemetry = await bench.start("telemetry");
    names.set(telemetry.pid, "telemetry");
    const port = await freePort();
    const gatewayProc = await bench.start("gateway", { PORT: String(port) });
    names.set(gatewayProc.pid, "gateway");
    const gateway = `http://127.0.0.1:${port}`;
    const cpuPhases: CpuPhase[] = [];

    const adminToken = await login(gateway, admin.username, admin.password);
    const owner = {
      username: `live-owner-${randomBytes(4).toString("hex")}`,
      password: `Owner-${randomBytes(9).toString("base64url")}`,
    };
    const created = await api(gateway, "POST", "/api/v2/users", {
      bearer: adminToken,
      json: { ...owner, role: "user" },
    });
    if (created.status !== 201) throw new Error(`create owner: HTTP ${created.status}`);
    const ownerId = (created.body as { id: string }).id;
    const bearer = await login(gateway, owner.username, owner.password);
    const devices = await createMonitors(gateway, adminToken, ownerId, MONITORS);
    const conns = await connectDevices(stack.nats.url, devices, { concurrency: 2 });
    cleanups.push(() => closeAll(conns));
    log(`${MONITORS} monitors connected as themselves`);

    // Baseline: the same readings read straight from TELEMETRY_LIVE in this process.
    const svc = await connect({ servers: stack.nats.url, user: natsAuth.user, pass: natsAuth.password });
    cleanups.push(() => svc.close());

    const rssBefore = rssKiB(gatewayProc.pid);
    const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    cleanups.push(async () => agent.destroy());
    /** Readings stamped from this time on (ms) are the measured ones; those before are the warm-up's. */
    let measureFrom = Number.POSITIVE_INFINITY;
    let sseLatency = new Reservoir();
    let directLatency = new Reservoir();
    const onReading = (at: number) => {
      if (at >= measureFrom) sseLatency.add(Date.now() - at);
    };
    const connectStart = performance.now();
    const clients = await measureCpu(cpuPhases, `connect ${CLIENTS} SSE`, names, async () => {
      const out: SseClient[] = [];
      // 25 at a time: each costs the gateway a monitor check and a consumer creation.
      for (let i = 0; i < CLIENTS; i += 25) {
        const batch = Array.from({ length: Math.min(25, CLIENTS - i) }, (_, k) => {
          const monitor = (i + k) % MONITORS;
          const url = new URL(`/api/v2/monitors/${devices[monitor]?.id}/live`, gateway);
          return openClient(agent, url, bearer, monitor, onReading);
        });
        out.push(...(await Promise.all(batch)));
      }
      return out;
    });
    cleanups.push(async () => {
      for (const c of clients) c.close();
    });
    const connectMs = performance.now() - connectStart;
    const rssConnected = rssKiB(gatewayProc.pid);
    log(`${CLIENTS} SSE clients connected in ${(connectMs / 1000).toFixed(1)} s`);

    const direct = await jetstream(svc).consumers.get(LIVE_STREAM, {
      filter_subjects: [liveSubjects.all],
      deliver_policy: DeliverPolicy.New,
    });
    const directMessages = await direct.consume();
    cleanups.push(() => directMessages.close());
    void (async () => {
      for await (const m of directMessages) {
        const { at } = m.json() as { at: number };
        if (at >= measureFrom) directLatency.add(Date.now() - at);
      }
    })();

    // Warm-up (JIT, consumers' first pulls), not measured; every client must get these too.
    const targets = deviceTargets(devices, conns);
    const acked = new Array<number>(MONITORS).fill(0);
    const onAck = (i: number) => {
      acked[i] = (acked[i] ?? 0) + 1;
    };
    await publishPaced(targets, { rate: RATE, durationMs: 2_000, inFlight: 256, onAck });

    let rssPeak = rssConnected;
    const rssSamples: number[] = [];
    const sampler = setInterval(() => {
      const rss = rssKiB(gatewayProc.pid);
      rssSamples.push(rss);
      rssPeak = Math.max(rssPeak, rss);
    }, 200);
    measureFrom = Date.now();
    const paced = await measureCpu(cpuPhases, `devices → ${CLIENTS} SSE`, names, () =>
      publishPaced(targets, {
        rate: RATE,
        durationMs: SECONDS * 1_000,
        inFlight: 256,
        onAck,
      }),
    );
    // Let the last readings reach every client.
    const expected = (c: SseClient) => acked[c.monitor] ?? 0;
    const drainUntil = performance.now() + 30_000;
    while (performance.now() < drainUntil && clients.some((c) => c.received < expected(c))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const ingestSse = sseLatency.summary();
    const ingestDirect = directLatency.summary();
    const ingestEvents = sseLatency.count;

    // Fan-out alone: live events published straight to the live subjects at the same rate
    // (as telemetry publishes them, without the ingest round before), to the same clients.
    sseLatency = new Reservoir();
    directLatency = new Reservoir();
    measureFrom = Date.now();
    const encoder = new TextEncoder();
    const fanout = await measureCpu(cpuPhases, "fan-out alone", names, async () => {
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < SECONDS * 1_000) {
        const due = Math.floor(((performance.now() - start) / 1000) * RATE);
        for (; sent < due; sent++) {
          const monitor = sent % MONITORS;
          const id = devices[monitor]?.id as string;
          const event = { monitorId: id, readingSeq: 0, at: Date.now(), values: { ph: 6 }, strings: [] };
          svc.publish(liveSubjects.of(id, "reading"), encoder.encode(JSON.stringify(event)));
          acked[monitor] = (acked[monitor] ?? 0) + 1;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await svc.flush();
      return sent;
    });
    const fanoutUntil = performance.now() + 30_000;
    while (performance.now() < fanoutUntil && clients.some((c) => c.received < expected(c))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    clearInterval(sampler);
    if (process.env.BENCH_LIVE_DEBUG) {
      const jsm = await jetstream(svc).jetstreamManager();
      const ci = await jsm.consumers.info("TELEMETRY_READINGS", "telemetry-ingest");
      log(
        `ingest consumer: ${JSON.stringify({ pending: ci.num_pending, ackPending: ci.num_ack_pending, waiting: ci.num_waiting, delivered: ci.delivered, ack: ci.ack_floor })}`,
      );
      const si = await jsm.streams.info(LIVE_STREAM);
      log(`live stream: ${JSON.stringify(si.state)}`);
    }
    for (const c of clients) c.close();
    await new Promise((r) => setTimeout(r, 2_000));
    const rssAfter = rssKiB(gatewayProc.pid);

    const complete = clients.filter((c) => c.received === expected(c)).length;
    const missing = clients.reduce((n, c) => n + Math.max(0, expected(c) - c.received), 0);
    const disorder = clients.reduce((n, c) => n + c.disorder, 0);
    const others = [...new Set(clients.flatMap((c) => c.other))];
    const sse = ingestSse;
    const base = ingestDirect;
    const fan = sseLatency.summary();
    const fanBase = directLatency.summary();
    const rows: [string, string, string][] = [
      [
        `publish → SSE @ ${fmt(RATE)}/s`,
        `p99 ${ms(sse.p99)}`,
        `p50 ${ms(sse.p50)}, max ${ms(sse.max)}; ${fmt(ingestEvents)} events to ${CLIENTS} clients (${MONITORS} monitors × ${PER_MONITOR}), ${fmt(paced.acked)} readings in ${SECONDS} s (${fmt(paced.acked / (paced.sendingMs / 1000))}/s)`,
      ],
      ["  p99 goal < 100 ms", sse.p99 < 100 ? "met" : "not met", ""],
      [
        "baseline: publish → TELEMETRY_LIVE",
        `p99 ${ms(base.p99)}`,
        `p50 ${ms(base.p50)}, max ${ms(base.max)}; one consumer in this process, no gateway (ingest round + live publish)`,
      ],
      [
        "  ratio SSE / baseline",
        `p50 ${(sse.p50 / base.p50).toFixed(2)}`,
        `p99 ${(sse.p99 / base.p99).toFixed(2)}: what the gateway's consumers and SSE fan-out add`,
      ],
      [
        `fan-out alone @ ${fmt(RATE)}/s`,
        `p99 ${ms(fan.p99)}`,
        `p50 ${ms(fan.p50)}, max ${ms(fan.max)}; ${fmt(fanout)} live events published straight to telemetry.v1.live.<id>.reading (no ingest round), ${fmt(sseLatency.count)} received by the clients`,
      ],
      [
        "  p99 goal < 100 ms",
        fan.p99 < 100 ? "met" : "not met",
        "what the live stream and the gateway add to a stored reading",
      ],
      [
        "  baseline: → TELEMETRY_LIVE",
        `p99 ${ms(fanBase.p99)}`,
        `p50 ${ms(fanBase.p50)}; ratio SSE / baseline p50 ${(fan.p50 / fanBase.p50).toFixed(2)}, p99 ${(fan.p99 / fanBase.p99).toFixed(2)}`,
      ],
      [
        "  every reading to every client",
        missing === 0 && disorder === 0 ? "yes" : "NO",
        `${complete} of ${CLIENTS} clients complete, ${fmt(missing)} events missing, ${disorder} out of order or repeated${others.length ? `, other events: ${others.join(", ")}` : ""}`,
      ],
      [
        "gateway RSS",
        `peak ${mib(rssPeak)}`,
        `before clients ${mib(rssBefore)}, ${CLIENTS} connected ${mib(rssConnected)}; while streaming, at 1/3, 2/3 and the end: ${[1, 2, 3].map((k) => mib(rssSamples[Math.max(0, Math.floor((k * rssSamples.length) / 3) - 1)] ?? Number.NaN)).join(", ")}; clients gone ${mib(rssAfter)}`,
      ],
      [
        `connect ${CLIENTS} clients`,
        `${(connectMs / 1000).toFixed(1)} s`,
        "25 at a time (monitor check + consumer each)",
      ],
    ];
    process.stdout.write("\nlive readings (issue 11)\n");
    for (const [x, y, z] of rows) process.stdout.write(`${x.padEnd(34)} ${y.padStart(14)}   ${z}\n`);
    printCpuTable(cpuPhases);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await bench.stop();
  }
}
