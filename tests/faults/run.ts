/**
 * `npm run test:faults`: the fault-injection suite (issue 16). For each topology — `npm start`
 * (one of everything) and `npm run start:cluster` (three NATS nodes, two instances of every
 * service, two gateways) — the real start script runs with its own ports and data directory, a
 * mixed load runs against it (devices publishing with acks over every NATS URL, v1 and v2 HTTP
 * readings through every gateway, tus uploads, analyses), and a bouncer (bouncer.ts) injects
 * faults on a seeded schedule: kill -9 of every service instance (media with a PATCH in flight,
 * analysis with an analysis active), of the NATS node leading the readings stream, of Redis with
 * an analysis active; SIGSTOP/SIGCONT of FerretDB and of Redis for a few seconds. Then the
 * checkers (check.ts): every acked or 200 reading stored exactly once, monitor counters and
 * per-minute rollups equal to the readings, uploads complete with their sha256 (a PATCH cut by
 * media's death answered within 5 s, no HEAD answered 504), every analysis finished with one
 * terminal event, no orphaned GridFS chunks or job directories, every process up and ready, and
 * nothing left running after SIGTERM. Prints a table (also written to `.data/faults-report.txt`)
 * and exits 1 on any violation.
 *
 * FAULTS_SEED (default 16) fixes the schedule; FAULTS_TOPOLOGIES=single,cluster picks topologies.
 * Anchors: nats-server's JetStream chaos tests; Jepsen's analysis of NATS 2.12.1.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { closeAll, createMonitors, createOwner, login } from "../../scripts/devices/platform.ts";
import { factsVtt } from "../support/analysis.ts";
import {
  ADMIN,
  alive,
  connectAsService,
  connectWithRetry,
  freePortRun,
  type Launched,
  launch,
} from "../support/launch.ts";
import { testVideo } from "../support/video.ts";
import { type FaultResult, faultPlan, runBouncer } from "./bouncer.ts";
import { checkReadings, checkStorage, type ReadingsVerdict, type StorageVerdict } from "./check.ts";
import { DeviceLoad, V1Load, V2Load } from "./load.ts";
import { Analyses, TusUploads } from "./media.ts";
import { percentile, prng, sleep } from "./prng.ts";

const root = join(import.meta.dirname, "..", "..");
const SEED = Number(process.env.FAULTS_SEED ?? 16);
const TOPOLOGIES = (process.env.FAULTS_TOPOLOGIES ?? "single,cluster").split(",").map((t) => t.trim());
const t0 = Date.now();
const log = (line: string) =>
  process.stderr.write(`faults: [${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);

interface TopologyResult {
  topology: string;
  seconds: number;
  faults: FaultResult[];
  devices: DeviceLoad;
  v1: V1Load;
  v2: V2Load;
  readings: ReadingsVerdict;
  tus: TusUploads;
  analyses: { id: string; state: string | undefined; events: Map<string, number> }[];
  storage: StorageVerdict;
  stackUp: string[];
  leftRunning: string[];
  violations: string[];
}

async function runTopology(topology: "single" | "cluster", seed: number): Promise<TopologyResult> {
  const started = Date.now();
  // The bouncer's schedule and the readings' values from separate generators, so the schedule is
  // the same however many readings were generated before each fault.
  const random = prng(seed);
  const values = prng(seed ^ 0x5eed);
  const cluster = topology === "cluster";
  const analysisTmp = mkdtempSync(join(tmpdir(), "trellis-faults-jobs-"));
  const [port, natsPort, routePort] = [await freePortRun(2), await freePortRun(3), await freePortRun(3)];
  log(`${topology}: starting (${cluster ? "npm run start:cluster" : "npm start"}, seed ${seed})`);
  const stack: Launched = await launch(
    cluster ? "start-cluster.ts" : "start.ts",
    {
      PORT: String(port),
      NATS_PORT: String(natsPort),
      NATS_CLUSTER_PORT: String(routePort),
      ANALYSIS_TMP_DIR: analysisTmp,
      // A job whose worker was killed is retried once its lock lapses and a stalled check sees it:
      // 10 s and 5 s here rather than 30 s (the default), to keep the run short.
      JOB_LOCK_MS: "10000",
      JOB_STALLED_INTERVAL_MS: "5000",
    },
    cluster ? 240_000 : 120_000,
  );
  const gateways = stack.ready.gateways;
  const violations: string[] = [];
  const conns: NatsConnection[] = [];
  let service: { nc: NatsConnection; jsm: JetStreamManager } | undefined;
  let lastPids: number[] = [];
  try {
    log(`${topology}: ready in ${((Date.now() - started) / 1000).toFixed(0)} s; setting up the load`);
    const bearer = await login(gateways[0] as string, ADMIN.username, ADMIN.password);
    const owner = await createOwner(gateways[0] as string, bearer);
    const monitors = await createMonitors(gateways[0] as string, bearer, owner, 10);
    const devices = monitors.slice(0, 6);
    conns.push(...(await connectWithRetry(stack.ready.nats.join(","), devices)));
    if (cluster)
      service = await connectAsService(stack.ready.nats, join(stack.dataDir, "cluster", "nats-1", "nats.conf"));
    // One video per analysis the bouncer starts (one active analysis per video: none waits for another).
    const video = testVideo({ seconds: 8 });
    const analysed = [];
    for (let i = 0; i < (cluster ? 3 : 2); i++)
      analysed.push(await Analyses.uploadVideo(gateways, bearer, video, factsVtt(1)));
    const big = testVideo({ seconds: 20, pattern: "testsrc2" });
    const tus = new TusUploads(gateways, bearer, big, 160 * 1024);
    const analyses = new Analyses(gateways, bearer, analysed);

    const stop = new AbortController();
    const deviceLoad = new DeviceLoad(devices, conns, values);
    const v1 = new V1Load(monitors.slice(6, 8), gateways);
    const v2 = new V2Load(monitors.slice(8, 10), gateways, bearer);
    const loads = Promise.all([deviceLoad.run(stop.signal, 5), v1.run(stop.signal, 400), v2.run(stop.signal, 400)]);
    await sleep(2_000);
    log(`${topology}: load running; the bouncer starts`);
    const faults = await runBouncer(faultPlan(stack), {
      stack,
      random,
      tus,
      analyses,
      ...(service ? { jsm: service.jsm } : {}),
      log: (l) => log(`${topology}: ${l}`),
    });
    await sleep(3_000);
    stop.abort();
    log(`${topology}: load stopping; waiting for what is in flight`);
    await loads;
    await tus.settled();

    log(`${topology}: checking`);
    const readings = await checkReadings(
      gateways,
      bearer,
      [...deviceLoad.expectations, ...v1.expectations, ...v2.expectations],
      60_000,
    );
    const analysisResults = [];
    for (const id of analyses.ids) {
      const state = await analyses.waitFinished(id, 90_000);
      analysisResults.push({ id, state, events: await analyses.events(id) });
    }
    // The sweeper removes a dead upload's chunks after a while; give it the time it needs.
    const storage = await checkStorage(stack.state().mongo as string, analysisTmp);
    const state = stack.state();
    const stackUp = Object.entries(state.processes)
      .filter(([, p]) => p.state !== "up" || !alive(p.pid))
      .map(([n]) => n);
    const notReady = [];
    for (const g of gateways) {
      const ok = await fetch(`${g}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!ok) notReady.push(g);
    }
    lastPids = Object.values(state.processes)
      .map((p) => p.pid)
      .filter((p): p is number => p !== undefined);

    // Violations.
    for (const f of faults) if (!f.recovered) violations.push(`${f.kind} (${f.target}): not whole again within 60 s`);
    if (readings.lost > 0) violations.push(`${readings.lost} promised readings lost`);
    if (readings.duplicated > 0) violations.push(`${readings.duplicated} readings stored twice`);
    if (readings.unexpected > 0) violations.push(`${readings.unexpected} readings stored that were never sent`);
    for (const m of readings.counterMismatches) violations.push(`counter: ${m}`);
    for (const m of readings.rollupMismatches.slice(0, 10)) violations.push(`rollup: ${m}`);
    if (deviceLoad.failed > 0) {
      const why = [...deviceLoad.failures.entries()].map(([r, n]) => `${n}× ${r}`).slice(0, 3);
      violations.push(`${deviceLoad.failed} device publishes never acked (retried 90 s): ${why.join("; ")}`);
    }
    if (v2.gaveUp > 0) violations.push(`${v2.gaveUp} v2 readings never answered 200 (retried 60 s)`);
    if (tus.outcomes.length === 0) violations.push("no tus upload ran");
    for (const u of tus.outcomes) {
      if (u.error) violations.push(`tus ${u.id}: ${u.error}`);
      else if (u.storedSha256 !== u.sha256) violations.push(`tus ${u.id}: sha256 ${u.storedSha256} ≠ ${u.sha256}`);
      if (u.head504 > 0) violations.push(`tus ${u.id}: ${u.head504} HEADs answered 504`);
    }
    for (const c of tus.cuts) {
      if (c.answeredMs > 5_000) violations.push(`a PATCH cut by media's death answered after ${c.answeredMs} ms`);
      if (c.status === 0) violations.push(`a PATCH cut by media's death got no answer (${c.error})`);
    }
    for (const a of analysisResults) {
      const terminal = ["completed", "failed", "cancelled"].reduce((n, k) => n + (a.events.get(k) ?? 0), 0);
      if (a.state !== "completed" && a.state !== "failed" && a.state !== "cancelled")
        violations.push(`analysis ${a.id}: not finished (${a.state})`);
      if ((a.events.get("completed") ?? 0) > 1) violations.push(`analysis ${a.id}: completed twice`);
      if (terminal !== 1) violations.push(`analysis ${a.id}: ${terminal} terminal events`);
    }
    if (storage.orphanedChunks > 0) violations.push(`${storage.orphanedChunks} orphaned GridFS chunks`);
    if (storage.tempDirs.length > 0) violations.push(`job directories left: ${storage.tempDirs.join(", ")}`);
    if (stackUp.length > 0) violations.push(`not up at the end: ${stackUp.join(", ")}`);
    if (notReady.length > 0) violations.push(`not ready at the end: ${notReady.join(", ")}`);

    const result: TopologyResult = {
      topology,
      seconds: 0,
      faults,
      devices: deviceLoad,
      v1,
      v2,
      readings,
      tus,
      analyses: analysisResults,
      storage,
      stackUp,
      leftRunning: [],
      violations,
    };
    return result;
  } finally {
    await closeAll(conns);
    await service?.nc.close().catch(() => {});
    // The supervisor's account of the run (exits, restarts), for the log.
    for (const line of stack.stderr().split("\n"))
      if (/^trellis: .*(exit|restart|gave up|crash)/i.test(line)) log(`${topology}: ${line}`);
    const stopped = await stack.stop();
    rmSync(analysisTmp, { recursive: true, force: true });
    const left = lastPids.filter((pid) => alive(pid));
    if (left.length > 0 || stopped.stateFileLeft) {
      violations.push(
        `after SIGTERM: ${left.length} processes left (${left.join(", ")}), state file left: ${stopped.stateFileLeft}`,
      );
      for (const pid of left) process.kill(pid, "SIGKILL");
    }
    log(`${topology}: stopped (exit ${stopped.code}) after ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}

const ms = (v: number) => (Number.isNaN(v) ? "-" : `${(v / 1000).toFixed(1)} s`);
const pad = (s: string | number, n: number) => String(s).padEnd(n);
const padl = (s: string | number, n: number) => String(s).padStart(n);

function table(results: readonly TopologyResult[], totalSeconds: number): string {
  const lines: string[] = [];
  lines.push(`Trellis fault-injection suite — seed ${SEED}, ${totalSeconds.toFixed(0)} s in all`);
  for (const r of results) {
    lines.push("");
    lines.push(`== ${r.topology === "cluster" ? "npm run start:cluster" : "npm start"} (${r.seconds.toFixed(0)} s)`);
    lines.push(`${pad("fault", 34)}${padl("n", 3)}  ${padl("recovery p50", 12)}  ${padl("p99", 7)}  targets`);
    const kinds = [...new Set(r.faults.map((f) => f.kind))];
    for (const k of kinds) {
      const fs = r.faults.filter((f) => f.kind === k);
      const rec = fs.filter((f) => f.recovered).map((f) => f.recoveryMs);
      const notes = fs.filter((f) => f.note).map((f) => `${f.target}: ${f.note}`);
      lines.push(
        `${pad(k, 34)}${padl(fs.length, 3)}  ${padl(ms(percentile(rec, 50)), 12)}  ${padl(ms(percentile(rec, 99)), 7)}  ${fs
          .map((f) => f.target)
          .join(", ")}${notes.length ? ` [${notes.join("; ")}]` : ""}`,
      );
    }
    const all = r.faults.filter((f) => f.recovered).map((f) => f.recoveryMs);
    lines.push(
      `${pad("all faults", 34)}${padl(r.faults.length, 3)}  ${padl(ms(percentile(all, 50)), 12)}  ${padl(ms(percentile(all, 99)), 7)}`,
    );
    lines.push("");
    lines.push(
      `${pad("operations", 34)}${padl("n", 7)}  ${padl("promised", 8)}  ${padl("lost", 5)}  ${padl("dup", 4)}  notes`,
    );
    const rd = r.readings;
    lines.push(
      `${pad("device readings (JetStream acks)", 34)}${padl(r.devices.sent, 7)}  ${padl(r.devices.acked, 8)}  ${padl("", 5)}  ${padl("", 4)}  ${r.devices.duplicateAcks} acks of retries said duplicate, ${r.devices.failed} never acked`,
    );
    lines.push(
      `${pad("v1 monitors/update (2 gateways)", 34)}${padl(r.v1.statuses.total, 7)}  ${padl(r.v1.statuses.count(200), 8)}  ${padl("", 5)}  ${padl("", 4)}  ${r.v1.statuses}`,
    );
    lines.push(
      `${pad("v2 readings, Idempotency-Key", 34)}${padl(r.v2.ok + r.v2.gaveUp, 7)}  ${padl(r.v2.ok, 8)}  ${padl("", 5)}  ${padl("", 4)}  attempts ${r.v2.statuses}`,
    );
    lines.push(
      `${pad("readings stored (all monitors)", 34)}${padl(rd.stored, 7)}  ${padl(rd.promised, 8)}  ${padl(rd.lost, 5)}  ${padl(rd.duplicated, 4)}  counters off: ${rd.counterMismatches.length}, rollup minutes off: ${rd.rollupMismatches.length}, unexpected: ${rd.unexpected}`,
    );
    const ok = r.tus.outcomes.filter((u) => !u.error && u.storedSha256 === u.sha256).length;
    lines.push(
      `${pad("tus uploads", 34)}${padl(r.tus.outcomes.length, 7)}  ${padl(ok, 8)}  ${padl(r.tus.outcomes.length - ok, 5)}  ${padl(0, 4)}  PATCHes ${r.tus.outcomes.reduce((n, u) => n + u.patches, 0)}, resumed ${r.tus.outcomes.reduce((n, u) => n + u.resumed, 0)}, cut by media's death answered in ${r.tus.cuts.map((c) => `${c.answeredMs} ms (${c.status || c.error})`).join(", ") || "-"}, HEAD 504s ${r.tus.outcomes.reduce((n, u) => n + u.head504, 0)}, completed by a cut PATCH ${r.tus.outcomes.filter((u) => u.finishedUnanswered).length}`,
    );
    const completed = r.analyses.filter((a) => a.state === "completed").length;
    const twice = r.analyses.filter((a) => (a.events.get("completed") ?? 0) > 1).length;
    lines.push(
      `${pad("analyses", 34)}${padl(r.analyses.length, 7)}  ${padl(r.analyses.length, 8)}  ${padl(r.analyses.filter((a) => !["completed", "failed", "cancelled"].includes(a.state ?? "")).length, 5)}  ${padl(twice, 4)}  ${completed} completed, states ${r.analyses.map((a) => a.state).join(" ")}`,
    );
    lines.push(
      `${pad("storage", 34)}orphaned GridFS chunks ${r.storage.orphanedChunks} (awaiting the sweeper: ${r.storage.pendingSweep}), job dirs left ${r.storage.tempDirs.length}`,
    );
    lines.push(`${pad("verdict", 34)}${r.violations.length === 0 ? "PASS" : `FAIL: ${r.violations.join("; ")}`}`);
  }
  return lines.join("\n");
}

const begun = Date.now();
const results: TopologyResult[] = [];
let crashed: Error | undefined;
for (const [i, t] of TOPOLOGIES.entries()) {
  if (t !== "single" && t !== "cluster") {
    log(`unknown topology ${t} (single, cluster)`);
    process.exit(2);
  }
  const t0 = Date.now();
  try {
    const r = await runTopology(t, SEED + i);
    r.seconds = (Date.now() - t0) / 1000;
    results.push(r);
  } catch (err) {
    crashed = err as Error;
    log(`${t}: the suite itself failed: ${(err as Error).stack ?? err}`);
    break;
  }
}
const report = table(results, (Date.now() - begun) / 1000);
process.stdout.write(`${report}\n`);
mkdirSync(join(root, ".data"), { recursive: true });
writeFileSync(join(root, ".data", "faults-report.txt"), `${report}\n`);
const failed = crashed !== undefined || results.some((r) => r.violations.length > 0);
process.stdout.write(`\nfaults: ${failed ? "FAIL" : "PASS"} (report in .data/faults-report.txt)\n`);
process.exit(failed ? 1 : 0);
