/**
 * `npm run bench:telemetry`, durability section (`BENCH_ONLY=durability` runs it alone): what
 * JetStream's `sync_interval: always` (every write fsynced before its PubAck; Trellis's setting,
 * docs/durability.md) costs against nats-server's default (`2m`: a background fsync every two
 * minutes, so a power cut can lose acknowledged readings). Two nats-server processes run side by
 * side in the same run, configured alike by the harness except for that one setting, each with a
 * telemetry instance of its own on the same MongoDB-protocol server (a database each):
 * 1. ingest: BENCH_DURABILITY_READINGS readings (default 20,000) from 20 monitors, published
 *    through JetStream (service credentials, device subjects) BENCH_IN_FLIGHT (256) at a time,
 *    timed until the monitors' `readingsStored` counters add up to all of them: readings/s stored,
 *    with the PubAck latency p50/p99 under that load;
 * 2. one client publishing readings one after the other (what a v1/v2 HTTP update waits for
 *    first): PubAck p50/p99 over BENCH_DURABILITY_SEQUENTIAL publishes (default 500).
 * Both settings run each step twice, alternating (always, 2m, always, 2m), so noise of a shared
 * machine falls on both; the rows give the mean rate and the p99 of all acks of a setting.
 * Both servers are local binaries (started the same way whatever the rest of the bench uses).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { type Dependency, ensureLocalBinaries, JETSTREAM_SYNC_INTERVAL, startNatsBinary } from "@trellis/stack";
import { uniqueSuffix } from "@trellis/stack/testing";
import { MongoClient } from "mongodb";
import { closeAll } from "../scripts/devices/platform.ts";
import { type PublishTarget, publishPaced, Reservoir } from "../scripts/devices/publisher.ts";
import { readingGenerator } from "../scripts/devices/readings.ts";
import type { MonitorDoc } from "../services/telemetry/src/store/monitors.ts";
import { fmt, monitorDoc, startBench, storedReadings } from "./support.ts";

const READINGS = Number(process.env.BENCH_DURABILITY_READINGS ?? 20_000);
const SEQUENTIAL = Number(process.env.BENCH_DURABILITY_SEQUENTIAL ?? 500);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 256);
const MONITORS = 20;
const ROUNDS = 2;
/** nats-server's own default, the setting Jepsen's finding is about. */
const DEFAULT_SYNC = "2m";
const log = (line: string) => process.stderr.write(`bench: durability: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(2)} ms`);

interface Side {
  sync: string;
  nats: Dependency;
  conns: NatsConnection[];
  ids: string[];
  stored(): Promise<number>;
  sent: number;
  ingestRates: number[];
  ingestAcks: Reservoir;
  sequentialAcks: Reservoir;
}

export async function benchDurability(): Promise<void> {
  ensureLocalBinaries((l) => process.stderr.write(`${l}\n`));
  const bench = await startBench();
  const mongo = await MongoClient.connect(bench.stack.mongo.url);
  const dataDir = mkdtempSync(join(tmpdir(), "trellis-bench-durability-"));
  const sides: Side[] = [];
  try {
    for (const sync of [JETSTREAM_SYNC_INTERVAL, DEFAULT_SYNC]) {
      const nats = await startNatsBinary(join(dataDir, sync), undefined, { syncInterval: sync });
      const auth = nats.natsAuth;
      if (!auth) throw new Error("the NATS server has no service credentials");
      const dbName = `bench_durability_${sync}_${uniqueSuffix()}`;
      await bench.start("telemetry", {
        NATS_URL: nats.url,
        NATS_USER: auth.user,
        NATS_PASSWORD: auth.password,
        MONGO_DB: dbName,
      });
      const db = mongo.db(dbName);
      const ids = Array.from({ length: MONITORS }, () => randomUUID().replaceAll("-", ""));
      const ownerId = randomUUID();
      await db.collection<MonitorDoc>("monitors").insertMany(ids.map((id) => monitorDoc(id, ownerId)));
      const conns: NatsConnection[] = [];
      for (let i = 0; i < MONITORS; i++) {
        conns.push(await connect({ servers: nats.url, user: auth.user, pass: auth.password }));
      }
      sides.push({
        sync,
        nats,
        conns,
        ids,
        stored: () => storedReadings(db, ids),
        sent: 0,
        ingestRates: [],
        ingestAcks: new Reservoir(),
        sequentialAcks: new Reservoir(),
      });
    }

    /** Publishes `n` readings over all monitors, IN_FLIGHT at a time, until stored: readings/s. */
    const ingest = async (side: Side, n: number, acks?: Reservoir): Promise<number> => {
      const targets: PublishTarget[] = side.ids.map((id, i) => {
        const readings = readingGenerator(id);
        return {
          name: `${side.sync}-${i}`,
          js: jetstream(side.conns[i] as NatsConnection),
          subject: deviceSubjects.readings(id),
          next: () => ({ payload: JSON.stringify(readings.next(Date.now())), msgID: randomUUID() }),
        };
      });
      const target = side.sent + n;
      const started = performance.now();
      const stats = await publishPaced(targets, {
        count: n,
        inFlight: IN_FLIGHT,
        ...(acks ? { onAck: (_t: number, latency: number) => acks.add(latency) } : {}),
      });
      if (stats.failed > 0) throw new Error(`${stats.failed} publishes failed (sync_interval ${side.sync})`);
      side.sent = target;
      const deadline = performance.now() + 120_000;
      while ((await side.stored()) < target) {
        if (performance.now() > deadline) throw new Error(`telemetry did not store ${n} readings in 120 s`);
        await sleep(10);
      }
      return n / ((performance.now() - started) / 1000);
    };

    /** One client, one publish after the other, each waiting for its PubAck. */
    const sequential = async (side: Side, n: number, acks?: Reservoir): Promise<void> => {
      const js = jetstream(side.conns[0] as NatsConnection);
      const id = side.ids[0] as string;
      const readings = readingGenerator(id);
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await js.publish(deviceSubjects.readings(id), JSON.stringify(readings.next(Date.now())), {
          msgID: randomUUID(),
        });
        acks?.add(performance.now() - t0);
      }
      side.sent += n;
    };

    for (const side of sides) {
      await ingest(side, 2_000); // warm-up: streams, consumers, JIT
      await sequential(side, 50);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const rate = await ingest(side, READINGS, side.ingestAcks);
        side.ingestRates.push(rate);
        await sequential(side, SEQUENTIAL, side.sequentialAcks);
        log(`sync_interval ${side.sync}, round ${round + 1}: ingest ${fmt(rate)} readings/s`);
      }
    }

    const [strict, lax] = sides as [Side, Side];
    const rows: [string, string, string][] = [];
    for (const side of sides) {
      const ing = side.ingestAcks.summary();
      const seq = side.sequentialAcks.summary();
      rows.push(
        [
          `sync_interval ${side.sync}: ingest`,
          `${fmt(mean(side.ingestRates))} /s`,
          `mean of ${ROUNDS} × ${fmt(READINGS)} readings stored (${side.ingestRates.map(fmt).join(", ")}); ${MONITORS} monitors, ${IN_FLIGHT} in flight; ack p50 ${ms(ing.p50)}, p99 ${ms(ing.p99)}`,
        ],
        [
          "  1 client publish+ack",
          `p99 ${ms(seq.p99)}`,
          `p50 ${ms(seq.p50)}, max ${ms(seq.max)}; ${fmt(ROUNDS * SEQUENTIAL)} publishes one after the other`,
        ],
      );
    }
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "-");
    rows.push(
      [
        `  ingest ${strict.sync} / ${lax.sync}`,
        ratio(mean(strict.ingestRates), mean(lax.ingestRates)),
        "readings/s stored: the throughput kept with every write on disk before its ack",
      ],
      [
        `  ack p99 ${strict.sync} / ${lax.sync}`,
        ratio(strict.ingestAcks.summary().p99, lax.ingestAcks.summary().p99),
        `under ingest load; 1 client: ${ratio(strict.sequentialAcks.summary().p99, lax.sequentialAcks.summary().p99)}`,
      ],
    );
    process.stdout.write("\ndurability: JetStream sync_interval (one run, two servers side by side)\n");
    for (const [x, y, z] of rows) process.stdout.write(`${x.padEnd(34)} ${y.padStart(14)}   ${z}\n`);
  } finally {
    for (const side of sides) await closeAll(side.conns).catch(() => {});
    await mongo.close().catch(() => {});
    // Telemetry first (bench.stop), then the NATS servers it used.
    await bench.stop();
    for (const side of sides) await side.nats.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
