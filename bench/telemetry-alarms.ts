/**
 * The alarms part of `npm run bench:telemetry` (alone: `BENCH_ONLY=alarms npm run bench:telemetry`):
 * device ingest throughput with BENCH_ALARM_RULES threshold rules active (default 1,000, spread
 * over the monitors) ÷ the same without rules; goal >= 0.9.
 *
 * Method, as the main ingest measurement: BENCH_MONITORS monitors (default 20), each connected to
 * NATS as itself (auth callout), publish BENCH_ALARM_READINGS readings (default 30,000) as fast
 * as acks allow (256 in flight), timed from the first publish until the monitors'
 * `readingsStored` counters add up to all of them. Each run gets a fresh telemetry (its own
 * database, the readings stream recreated, new monitors, a warm-up); the runs go without, with,
 * with, without (ABBA, so drift on this shared machine weighs on both sides alike) and each side
 * is the mean of its two runs.
 *
 * The rules are what an operator writes: every measurement, `above` / `below` / `outside`,
 * for_seconds 0-300 and some hysteresis. 95% of them never fire on the simulated readings (but are
 * evaluated on every reading of their measurement); 5% breach at once and raise one alarm each,
 * so the run also writes alarms, events and webhook jobs.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MAX_ALARM_RULES_PER_MONITOR, MEASUREMENTS, READINGS_STREAM } from "@trellis/contracts";
import { freePort } from "@trellis/stack";
import type { ServiceProcess } from "@trellis/stack/testing";
import { type Db, MongoClient } from "mongodb";
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
import { fmt, startBench } from "./support.ts";

const int = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
};

const log = (line: string) => process.stderr.write(`bench(alarms): ${line}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function storedSum(db: Db, ids: readonly string[]): Promise<number> {
  const docs = await db
    .collection<{ _id: string; readingsStored: number }>("monitors")
    .find({ _id: { $in: [...ids] } }, { projection: { readingsStored: 1 } })
    .toArray();
  return docs.reduce((a, d) => a + (d.readingsStored ?? 0), 0);
}

/** Polls the counters until they reach `target` (every 250 ms while publishing, 10 ms after). */
async function waitStored(
  db: Db,
  ids: readonly string[],
  target: number,
  deadline: number,
  fast: () => boolean,
): Promise<{ at: number; complete: boolean }> {
  for (;;) {
    const stored = await storedSum(db, ids);
    const at = performance.now();
    if (stored >= target) return { at, complete: true };
    if (at >= deadline) return { at, complete: false };
    await sleep(fast() ? 10 : 250);
  }
}

/** The i-th rule: mostly never firing, every 20th breaching at once. */
function ruleOf(i: number): Record<string, unknown> {
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

/** Runs the alarms benchmark on a stack of its own; resolves with the exit code (1 when a run failed). */
export async function benchAlarms(): Promise<number> {
  const READINGS = int("BENCH_ALARM_READINGS", 30_000);
  const MONITORS = int("BENCH_MONITORS", 20);
  const RULES = int("BENCH_ALARM_RULES", 1_000);
  const IN_FLIGHT = int("BENCH_IN_FLIGHT", 256);
  const SECONDS = int("BENCH_INGEST_SECONDS", 60);
  const admin = { username: "bench-admin", password: `Bench-Admin-${Math.random().toString(36).slice(2)}-x9` };
  if (Math.ceil(RULES / MONITORS) > MAX_ALARM_RULES_PER_MONITOR) {
    throw new Error(`at most ${MAX_ALARM_RULES_PER_MONITOR} rules per monitor: raise BENCH_MONITORS`);
  }

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
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            for (let i = next++; i < rules; i = next++) {
              const monitor = devices[i % devices.length];
              const res = await api(gateway, "POST", `/api/v2/monitors/${monitor?.id}/alarm-rules`, {
                bearer: token,
                json: ruleOf(i),
              });
              if (res.status !== 201) throw new Error(`rule ${i}: ${res.status} ${JSON.stringify(res.body)}`);
            }
          }),
        );
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
        const stored = (await storedSum(db, ids)) - 500;
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

    const without1 = await run(0);
    const with1 = await run(RULES);
    const with2 = await run(RULES);
    const without2 = await run(0);
    const without = (without1 + without2) / 2;
    const withRules = (with1 + with2) / 2;
    const ratio = withRules / without;
    process.stdout.write(
      `\nalarms: ingest with ${RULES} rules ÷ without (ABBA, ${READINGS} readings, ${MONITORS} monitors)\n`,
    );
    process.stdout.write(`  without rules   ${fmt(without1)} / ${fmt(without2)} readings/s, mean ${fmt(without)}\n`);
    process.stdout.write(`  with rules      ${fmt(with1)} / ${fmt(with2)} readings/s, mean ${fmt(withRules)}\n`);
    process.stdout.write(
      `  ratio           ${ratio.toFixed(2)}   (goal >= 0.9: ${ratio >= 0.9 ? "met" : "not met"})\n`,
    );
  } catch (err) {
    exitCode = 1;
    process.stderr.write(`bench(alarms): ${(err as Error).stack ?? err}\n`);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await bench.stop();
  }
  return exitCode;
}
