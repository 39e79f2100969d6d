/**
 * `npm run bench:telemetry`, retention section (`BENCH_ONLY=retention` runs it alone): does
 * deleting old readings stall ingest? On a stack of its own, one telemetry instance with the
 * retention job every 500 ms (batches of RETENTION_BATCH_SIZE 1,000, pauses of at least 100 ms):
 * 1. ingest alone, twice (after a 10,000-reading warm-up): BENCH_RETENTION_READINGS readings
 *    (default 30,000) from 20 monitors, published
 *    through JetStream BENCH_IN_FLIGHT (256) at a time, timed until the monitors' `readingsStored`
 *    counters add up to all of them;
 * 2. BENCH_RETENTION_BACKLOG readings (default 300,000) 60 days old are put straight into the
 *    readings collection (as if stored long ago); once the job is deleting them, the same ingest
 *    twice again. Goal: ingest during deletion ÷ ingest alone ≥ 0.8. The deletion rate is printed too,
 *    and whether the backlog lasted the whole measured ingest (otherwise the ratio flatters).
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { MongoClient } from "mongodb";
import type { MonitorDoc } from "../services/telemetry/src/store/monitors.ts";
import { BucketReadingsStore } from "../services/telemetry/src/store/reading-buckets.ts";
import { fmt, monitorDoc, startBench, storedReadings } from "./support.ts";

const READINGS = Number(process.env.BENCH_RETENTION_READINGS ?? 30_000);
const BACKLOG = Number(process.env.BENCH_RETENTION_BACKLOG ?? 300_000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 256);
const MONITORS = 20;
const DAY = 86_400_000;
const log = (line: string) => process.stderr.write(`bench: retention: ${line}\n`);
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchRetention(): Promise<void> {
  const bench = await startBench();
  const mongo = await MongoClient.connect(bench.stack.mongo.url);
  const natsAuth = bench.stack.nats.natsAuth;
  if (!natsAuth) throw new Error("the NATS server has no service credentials");
  const nc = await connect({ servers: bench.stack.nats.url, user: natsAuth.user, pass: natsAuth.password });
  try {
    const dbName = bench.env("telemetry").MONGO_DB as string;
    await bench.start("telemetry", {
      RETENTION_INTERVAL_MS: "500",
      READINGS_RETENTION_DAYS: "30",
      RETENTION_BATCH_SIZE: "1000",
      RETENTION_BATCH_PAUSE_MS: "100",
    });
    const db = mongo.db(dbName);
    const ids = Array.from({ length: MONITORS }, () => randomUUID().replaceAll("-", ""));
    const ownerId = randomUUID();
    await db.collection<MonitorDoc>("monitors").insertMany(ids.map((id) => monitorDoc(id, ownerId)));
    const js = jetstream(nc);
    const stored = () => storedReadings(db, ids);
    let sent = 0;
    /** Publishes `n` readings (IN_FLIGHT at a time) and waits until all are stored: readings/s. */
    const ingest = async (n: number): Promise<number> => {
      const target = sent + n;
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < n; i = next++) {
          const id = ids[i % MONITORS] as string;
          await js.publish(deviceSubjects.readings(id), JSON.stringify({ ph: 6 + (i % 20) / 10, reservoir_temp: 21 }));
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      sent = target;
      while ((await stored()) < target) await sleep(10);
      return n / ((performance.now() - started) / 1000);
    };

    await ingest(10_000); // warm-up
    // Two runs each way, alternating noise (the machine may be shared) into both sides.
    const aloneRuns = [await ingest(READINGS), await ingest(READINGS)];
    const alone = mean(aloneRuns);
    log(`ingest alone: ${aloneRuns.map(fmt).join(", ")} readings/s`);

    // The backlog as telemetry stores it (buckets), 60 days old; sequences far above the stream's.
    const buckets = new BucketReadingsStore(db);
    const old = Date.now() - 60 * DAY;
    for (let i = 0; i < BACKLOG; i += 5_000) {
      const points = Array.from({ length: Math.min(5_000, BACKLOG - i) }, (_, k) => {
        const n = i + k;
        return { seq: 1e12 + n, monitorId: ids[n % MONITORS] as string, at: old + n, values: { ph: 6.5 } };
      });
      await buckets.insertRound(points, false);
    }
    // Old readings left: those with the backlog's sequences (buckets hold one minute, so no
    // bucket mixes old and new readings).
    const oldLeft = async () =>
      (
        await db
          .collection("reading_buckets")
          .aggregate<{ n: number }>([
            { $match: { minAt: { $lt: old + DAY } } },
            { $group: { _id: null, n: { $sum: "$count" } } },
          ])
          .toArray()
      )[0]?.n ?? 0;
    // Wait until the job is deleting.
    const full = await oldLeft();
    const waitStart = performance.now();
    while ((await oldLeft()) === full && performance.now() - waitStart < 30_000) await sleep(100);
    const before = await oldLeft();
    const t0 = performance.now();
    const duringRuns = [await ingest(READINGS), await ingest(READINGS)];
    const during = mean(duringRuns);
    const seconds = (performance.now() - t0) / 1000;
    const after = await oldLeft();
    const deletedRate = (before - after) / seconds;
    log(
      `ingest during deletion: ${duringRuns.map(fmt).join(", ")} readings/s; ${fmt(before - after)} old readings deleted meanwhile`,
    );

    const rows: [string, string, string][] = [
      [
        "ingest alone",
        `${fmt(alone)} /s`,
        `mean of 2 × ${fmt(READINGS)} readings (${aloneRuns.map(fmt).join(", ")}), 20 monitors, ${IN_FLIGHT} publishes in flight`,
      ],
      [
        "ingest while retention deletes",
        `${fmt(during)} /s`,
        `ratio ${(during / alone).toFixed(2)} (goal >= 0.8); mean of ${duringRuns.map(fmt).join(", ")}${after === 0 ? "; the backlog ran out during the run: the ratio flatters" : ""}`,
      ],
      [
        "retention deletes meanwhile",
        `${fmt(deletedRate)} /s`,
        `${fmt(before - after)} of ${fmt(BACKLOG)} old readings, batches of 1,000, pauses of max(100 ms, the batch's time)`,
      ],
    ];
    process.stdout.write("\nretention vs ingest (one run, same servers)\n");
    for (const [x, y, z] of rows) process.stdout.write(`${x.padEnd(34)} ${y.padStart(14)}   ${z}\n`);
  } finally {
    await nc.close().catch(() => {});
    await mongo.close().catch(() => {});
    await bench.stop();
  }
}
