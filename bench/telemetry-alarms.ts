/**
 * The alarms part of `npm run bench:telemetry` (alone: `BENCH_ONLY=alarms npm run bench:telemetry`):
 * ingest throughput with BENCH_ALARM_RULES threshold rules active (default 1,000, spread over the
 * monitors) ÷ the same without rules; goal >= 0.9. Three measurements, in this order:
 *
 * 1. Diagnostic, no servers: the CPU the evaluation costs per reading (`evaluateMonitor` over
 *    rounds of 5,000 readings), next to JSON.parse of the same payloads.
 * 2. Telemetry's round code in-process (`ReadingsIngest.process`: validation, inserts, rollups,
 *    monitors, and with rules the alarm evaluation, its conditional state write and the
 *    announcements) against the MongoDB-protocol server: BENCH_ALARM_INPROCESS_READINGS readings
 *    (default 50,500, the first 500 a warm-up) of BENCH_MONITORS monitors (default 20), a fresh
 *    database per run.
 * 3. Device ingest end to end, as the main ingest measurement: the monitors, each connected to
 *    NATS as itself (auth callout), publish BENCH_ALARM_READINGS readings (default 30,000) as fast
 *    as acks allow (256 in flight), timed from the first publish until the monitors'
 *    `readingsStored` counters add up to all of them, on a fresh telemetry per run (its own
 *    database, the readings stream recreated, new monitors and rules, a warm-up).
 *    BENCH_ALARMS_E2E=0 skips it.
 *
 * 2 runs ABBAABBA and 3 ABBA (A without rules, B with), so drift on this shared machine weighs on
 * both sides alike; each side is the mean of its runs. The rules are what an operator
 * writes: every measurement, `above` / `below` / `outside`, for_seconds 0-300 and some
 * hysteresis. 95% never fire on the simulated readings (but are evaluated on every reading of
 * their measurement); 5% breach at once and raise one alarm each, so the run also writes alarms,
 * events and webhook jobs.
 */
import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  type AlarmRuleInput,
  AlarmRuleInput as AlarmRuleSchema,
  MAX_ALARM_RULES_PER_MONITOR,
  MEASUREMENTS,
  READINGS_STREAM,
  TELEMETRY_EVENTS_STREAM,
  TELEMETRY_EVENTS_SUBJECTS,
} from "@trellis/contracts";
import { ensureStream, eventPublisher } from "@trellis/runtime";
import { freePort } from "@trellis/stack";
import type { ServiceProcess } from "@trellis/stack/testing";
import { type Db, MongoClient } from "mongodb";
import type { Logger } from "pino";
import {
  api,
  closeAll,
  connectDevices,
  createMonitors,
  createOwner,
  deviceTargets,
  login,
} from "../scripts/devices/platform.ts";
import { firstFailures, publishPaced } from "../scripts/devices/publisher.ts";
import { readingGenerator } from "../scripts/devices/readings.ts";
import { evaluateMonitor, type MonitorAlarmState } from "../services/telemetry/src/domain/alarm-eval.ts";
import { webhooksStreamSpec } from "../services/telemetry/src/features/webhooks.ts";
import { AlarmEvaluator } from "../services/telemetry/src/ingest/alarm-evaluator.ts";
import { AlarmNotifier } from "../services/telemetry/src/ingest/alarm-notifier.ts";
import { liveStreamSpec } from "../services/telemetry/src/ingest/live-stream.ts";
import { ReadingsIngest, type ReadingsIngestOptions } from "../services/telemetry/src/ingest/readings-consumer.ts";
import { AlarmRulesStore, ruleDocOf, ruleSpec } from "../services/telemetry/src/store/alarm-rules.ts";
import { AlarmsStore } from "../services/telemetry/src/store/alarms.ts";
import { MonitorsStore } from "../services/telemetry/src/store/monitors.ts";
import { BucketReadingsStore } from "../services/telemetry/src/store/reading-buckets.ts";
import { RollupsStore } from "../services/telemetry/src/store/rollups.ts";
import { fakeReadingMsgs, fmt, monitorDoc, startBench, storedReadings } from "./support.ts";

const int = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
};

const log = (line: string) => process.stderr.write(`bench(alarms): ${line}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls the counters until they reach `target` (every 250 ms while publishing, 10 ms after). */
async function waitStored(
  db: Db,
  ids: readonly string[],
  target: number,
  deadline: number,
  fast: () => boolean,
): Promise<{ at: number; complete: boolean }> {
  for (;;) {
    const stored = await storedReadings(db, ids);
    const at = performance.now();
    if (stored >= target) return { at, complete: true };
    if (at >= deadline) return { at, complete: false };
    await sleep(fast() ? 10 : 250);
  }
}

/** The i-th rule: mostly never firing, every 20th breaching at once. */
/** Rule `i` of a bench: mostly never firing, one in 20 always (so alarms are raised and stored). */
export function ruleOf(i: number): Record<string, unknown> {
  const measurement = MEASUREMENTS[i % MEASUREMENTS.length];
  const base = { measurement, for_seconds: (i * 37) % 301, hysteresis: (i % 5) / 10 };
  if (i % 20 === 0) return { ...base, condition: "above", threshold: -1e9, for_seconds: 0 };
  switch (i % 3) {
    case 0:
      return { ...base, condition: "above", threshold: 1e6 + i };
    case 1:
      return { ...base, condition: "below", threshold: -1e6 - i };
    default:
      return { ...base, condition: "outside", threshold: { low: -1e6 - i, high: 1e6 + i } };
  }
}

/** Creates rules 0 to `count` - 1 (ruleOf) through the API, round robin over `devices`, 8 requests at a time. */
export async function postAlarmRules(
  gateway: string,
  token: string,
  devices: readonly { id: string }[],
  count: number,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < count; i = next++) {
        const res = await api(gateway, "POST", `/api/v2/monitors/${devices[i % devices.length]?.id}/alarm-rules`, {
          bearer: token,
          json: ruleOf(i),
        });
        if (res.status !== 201) throw new Error(`rule ${i}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
  );
}

/** Rejects when `p` takes longer than `ms` (a stuck database must not hang the benchmark). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    }),
  ]);
}

/**
 * Diagnostic without any server: the CPU cost of evaluating `rules` rules (over `monitors`
 * monitors) on `readings` readings, in rounds of 5,000 as ingest does, against the cost of
 * parsing those readings (JSON.parse of the device payload, which ingest does for every reading).
 */
function evaluationCost(monitors: number, readings: number, rules: number): void {
  const ids = Array.from({ length: monitors }, (_, i) => i.toString(16).padStart(32, "0"));
  const specs = new Map<string, ReturnType<typeof ruleSpec>[]>(ids.map((id) => [id, []]));
  for (let i = 0; i < rules; i++) {
    const r = AlarmRuleSchema.parse(ruleOf(i));
    specs.get(ids[i % monitors] as string)?.push(
      ruleSpec({
        _id: i.toString(16).padStart(24, "0"),
        monitorId: ids[i % monitors] as string,
        ownerId: "",
        measurement: r.measurement,
        condition: r.condition,
        threshold: r.threshold,
        forSeconds: r.for_seconds,
        hysteresis: r.hysteresis,
        createdAt: new Date(0),
      }),
    );
  }
  const gens = ids.map((id) => readingGenerator(id));
  const t0 = Date.now();
  const payloads = Array.from({ length: readings }, (_, i) => JSON.stringify(gens[i % monitors]?.next(t0 + i)));
  const parseStart = performance.now();
  const parsed = payloads.map((p) => JSON.parse(p) as Record<string, number>);
  const parseMs = performance.now() - parseStart;
  const states = new Map<string, MonitorAlarmState>();
  const evalStart = performance.now();
  for (let done = 0; done < readings; done += 5_000) {
    const byMonitor = new Map<string, { at: number; values: Record<string, number> }[]>();
    for (let i = done; i < Math.min(readings, done + 5_000); i++) {
      const id = ids[i % monitors] as string;
      const { timestamp, ...values } = parsed[i] as Record<string, number>;
      let list = byMonitor.get(id);
      if (!list) {
        list = [];
        byMonitor.set(id, list);
      }
      list.push({ at: timestamp as number, values });
    }
    for (const [id, list] of byMonitor) {
      states.set(id, evaluateMonitor(specs.get(id) ?? [], states.get(id) ?? {}, list).state);
    }
  }
  const evalMs = performance.now() - evalStart;
  process.stdout.write(
    `\nalarms (diagnostic, no servers): evaluating ${rules} rules costs ${((evalMs * 1_000) / readings).toFixed(2)} µs per reading (${fmt(readings / (evalMs / 1_000))} readings/s on one core); JSON.parse of the same payloads ${((parseMs * 1_000) / readings).toFixed(2)} µs\n`,
  );
}

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as unknown as Logger;

/**
 * Telemetry's own round code (`ReadingsIngest.process`: validation, inserts, rollups, monitors and
 * the alarm evaluation) in this process against the same MongoDB-protocol server, without NATS
 * delivery or service processes: `readings` readings of `monitors` monitors in rounds of 5,000,
 * with `rules` rules (0: no evaluator at all, as before this feature). A fresh database per run.
 */
async function inProcessRun(
  mongo: MongoClient,
  nc: NatsConnection,
  run: number,
  opts: { monitors: number; readings: number; rules: number },
): Promise<number> {
  const db = mongo.db(`bench_alarms_inproc_${process.pid}_${run}`);
  try {
    const monitors = new MonitorsStore(db);
    const readings = new BucketReadingsStore(db);
    const rollups = new RollupsStore(db);
    const ruleStore = new AlarmRulesStore(db);
    const alarms = new AlarmsStore(db);
    await Promise.all([monitors, readings, rollups, ruleStore, alarms].map((s) => s.ensureIndexes()));
    const ids = Array.from(
      { length: opts.monitors },
      (_, i) => `${run.toString(16).padStart(8, "0")}${i.toString(16).padStart(24, "0")}`,
    );
    const owner = "00000000-0000-4000-8000-000000000000";
    for (const id of ids) await monitors.create(monitorDoc(id, owner));
    for (let i = 0; i < opts.rules; i++) {
      const rule: AlarmRuleInput = AlarmRuleSchema.parse(ruleOf(i));
      await ruleStore.create(
        ruleDocOf(rule, { _id: ruleStore.newId(), monitorId: ids[i % ids.length] as string, ownerId: owner }),
      );
    }
    const notifier = new AlarmNotifier({
      js: jetstream(nc),
      events: eventPublisher(nc),
      alarms,
      rules: ruleStore,
      log: quiet,
      retryAfterMs: 10_000,
      sweepIntervalMs: 5_000,
    });
    const evaluator = new AlarmEvaluator({
      store: ruleStore,
      notifier,
      log: quiet,
      instance: `bench-${run}`,
      cacheTtlMs: 60_000,
      flushMs: 2_000,
    });
    const ingest = new ReadingsIngest({
      monitors,
      readings,
      rollups,
      batchSize: 500,
      roundSize: 5_000,
      maxWaitMs: 5,
      log: quiet,
      events: eventPublisher(nc),
      ...(opts.rules > 0 ? { alarms: evaluator } : {}),
    } as unknown as ReadingsIngestOptions);
    const t0 = Date.now();
    const msgs = fakeReadingMsgs(ids, opts.readings, (i) => t0 + i);
    // Warm-up round (JIT, the rules cache, the state documents), not timed.
    const round = (batch: JsMsg[]) => within(ingest.process(batch), 60_000, "the MongoDB-protocol server");
    await round(msgs.slice(0, 500));
    const start = performance.now();
    for (let done = 500; done < msgs.length; done += 5_000) await round(msgs.slice(done, done + 5_000));
    const rate = (msgs.length - 500) / ((performance.now() - start) / 1_000);
    await notifier.idle();
    const raised = await db.collection("alarms").countDocuments();
    log(`in-process, ${opts.rules} rules: ${fmt(rate)} readings/s, ${raised} alarms raised`);
    if (opts.rules > 0 && raised === 0) throw new Error("no alarm was raised: the rules were not evaluated");
    return rate;
  } finally {
    await db.dropDatabase().catch(() => {});
  }
}

const ratioLine = (name: string, without: number[], withRules: number[], rules: number, order = "ABBA") => {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratio = mean(withRules) / mean(without);
  process.stdout.write(`\nalarms (${name}): ingest with ${rules} rules ÷ without, ${order}\n`);
  process.stdout.write(`  without rules   ${without.map(fmt).join(" / ")} readings/s, mean ${fmt(mean(without))}\n`);
  process.stdout.write(
    `  with rules      ${withRules.map(fmt).join(" / ")} readings/s, mean ${fmt(mean(withRules))}\n`,
  );
  process.stdout.write(`  ratio           ${ratio.toFixed(2)}   (goal >= 0.9: ${ratio >= 0.9 ? "met" : "not met"})\n`);
};

/** Runs the alarms benchmark on a stack of its own; resolves with the exit code (1 when a run failed). */
export async function benchAlarms(): Promise<number> {
  const READINGS = int("BENCH_ALARM_READINGS", 30_000);
  const MONITORS = int("BENCH_MONITORS", 20);
  const RULES = int("BENCH_ALARM_RULES", 1_000);
  const IN_FLIGHT = int("BENCH_IN_FLIGHT", 256);
  const SECONDS = int("BENCH_INGEST_SECONDS", 60);
  const IN_PROCESS_READINGS = int("BENCH_ALARM_INPROCESS_READINGS", 50_500);
  const admin = { username: "bench-admin", password: `Bench-Admin-${Math.random().toString(36).slice(2)}-x9` };
  if (Math.ceil(RULES / MONITORS) > MAX_ALARM_RULES_PER_MONITOR) {
    throw new Error(`at most ${MAX_ALARM_RULES_PER_MONITOR} rules per monitor: raise BENCH_MONITORS`);
  }

  evaluationCost(MONITORS, IN_PROCESS_READINGS, RULES);
  const bench = await startBench();
  const cleanups: (() => Promise<unknown>)[] = [];
  let exitCode = 0;
  try {
    const natsAuth = bench.stack.nats.natsAuth;
    if (!natsAuth) throw new Error("the NATS server has no service credentials");
    await bench.start("auth", { TRELLIS_ADMIN_USERNAME: admin.username, TRELLIS_ADMIN_PASSWORD: admin.password });
    const port = await freePort();
    await bench.start("gateway", { PORT: String(port) });
    const gateway = `http://127.0.0.1:${port}`;
    const mongo = await MongoClient.connect(bench.stack.mongo.url);
    cleanups.push(() => mongo.close());
    const svc = await connect({ servers: bench.stack.nats.url, user: natsAuth.user, pass: natsAuth.password });
    cleanups.push(() => svc.close());
    const jsm = await jetstreamManager(svc);

    // ---- In-process: telemetry's round code with and without the rules (ABBA).
    await ensureStream(jsm, { name: TELEMETRY_EVENTS_STREAM, subjects: [TELEMETRY_EVENTS_SUBJECTS] });
    await ensureStream(jsm, webhooksStreamSpec());
    await ensureStream(jsm, liveStreamSpec());
    const sizes = { monitors: MONITORS, readings: IN_PROCESS_READINGS };
    const ip: number[] = [];
    const order = [0, RULES, RULES, 0, 0, RULES, RULES, 0];
    for (const [i, rules] of order.entries()) ip.push(await inProcessRun(mongo, svc, i, { ...sizes, rules }));
    const side = (withRules: boolean) => ip.filter((_, i) => (order[i] as number) > 0 === withRules);
    ratioLine("telemetry's round code in-process", side(false), side(true), RULES, "ABBAABBA");
    if (process.env.BENCH_ALARMS_E2E === "0") return exitCode;

    const token = await login(gateway, admin.username, admin.password);
    const owner = await createOwner(gateway, token);

    let telemetry: ServiceProcess | undefined;
    let generation = 0;
    const run = async (rules: number): Promise<number> => {
      if (telemetry) {
        await telemetry.stop("SIGKILL");
        await jsm.streams.delete(READINGS_STREAM).catch(() => {});
      }
      const dbName = `${bench.env("telemetry").MONGO_DB}_alarms_${++generation}`;
      telemetry = await bench.start("telemetry", { MONGO_DB: dbName });
      const devices = await createMonitors(gateway, token, owner, MONITORS);
      const conns = await connectDevices(bench.stack.nats.url, devices);
      try {
        await postAlarmRules(gateway, token, devices, rules);
        const db = mongo.db(dbName);
        const ids = devices.map((d) => d.id);
        const warm = await publishPaced(deviceTargets(devices, conns), { count: 500, inFlight: IN_FLIGHT });
        if (warm.failed > 0) throw new Error(`warm-up: ${firstFailures(warm).join("; ")}`);
        if (!(await waitStored(db, ids, 500, performance.now() + 60_000, () => true)).complete) {
          throw new Error("warm-up readings were not stored within 60 s");
        }
        const start = performance.now();
        let acked = false;
        const publishing = publishPaced(deviceTargets(devices, conns), {
          count: READINGS,
          inFlight: IN_FLIGHT,
        }).finally(() => {
          acked = true;
        });
        const done = await waitStored(db, ids, 500 + READINGS, start + SECONDS * 1_000, () => acked);
        const pub = await publishing;
        if (pub.failed > 0) throw new Error(`publish: ${firstFailures(pub).join("; ")}`);
        if (!done.complete) exitCode = 1;
        const stored = (await storedReadings(db, ids)) - 500;
        const rate = stored / ((done.at - start) / 1_000);
        const alarms = await db.collection("alarms").countDocuments();
        log(
          `${rules} rules: ${fmt(rate)} readings/s stored${done.complete ? "" : " (incomplete)"}, ${alarms} alarms raised`,
        );
        if (rules > 0 && alarms === 0) throw new Error("no alarm was raised: the rules were not evaluated");
        return rate;
      } finally {
        await closeAll(conns);
      }
    };

    const e2e: number[] = [];
    for (const rules of [0, RULES, RULES, 0]) e2e.push(await run(rules));
    ratioLine("device ingest end to end", [e2e[0] ?? 0, e2e[3] ?? 0], [e2e[1] ?? 0, e2e[2] ?? 0], RULES);
  } catch (err) {
    exitCode = 1;
    process.stderr.write(`bench(alarms): ${(err as Error).stack ?? err}\n`);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await bench.stop();
  }
  return exitCode;
}
