/**
 * The checkers, run once the load stopped and the bouncer is done: what was promised (acks, 200s)
 * against what the platform holds, through its own APIs where it has them (readings, counters,
 * rollups, analyses and their events, videos) and through the database for what only it shows
 * (GridFS chunks without a file).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import type { Expectation } from "./load.ts";
import { call } from "./load.ts";
import { sleep } from "./prng.ts";

export interface ReadingsVerdict {
  monitors: number;
  /** Readings that had to be stored (acked or answered 200). */
  promised: number;
  stored: number;
  /** Promised but not stored. */
  lost: number;
  /** Stored more than once (a key seen twice). */
  duplicated: number;
  /** Stored but never sent. */
  unexpected: number;
  /** Monitors whose readingsStored is not the number of readings stored. */
  counterMismatches: string[];
  /** Monitor-minutes whose rollup (count, sum of ph) differs from the readings stored. */
  rollupMismatches: string[];
}

interface Point {
  at: number;
  values: Record<string, number>;
}

async function readingsOf(gateways: readonly string[], bearer: string, monitorId: string): Promise<Point[]> {
  const out: Point[] = [];
  let after: number | undefined;
  for (;;) {
    const q = `from=0&to=${Date.now() + 86_400_000}&limit=10000${after !== undefined ? `&after=${after}` : ""}`;
    const a = await call(gateways[0] as string, "GET", `/api/v2/monitors/${monitorId}/readings?${q}`, { bearer });
    if (a.status !== 200) throw new Error(`readings of ${monitorId}: ${a.status} ${JSON.stringify(a.body)}`);
    const page = a.body as { items: Point[]; nextAfter: number | null };
    out.push(...page.items);
    if (page.nextAfter === null || page.items.length === 0) return out;
    after = page.nextAfter;
  }
}

const keyOf = (e: Expectation, p: Point): number | undefined =>
  e.key === "at" ? p.at : p.values.electrical_conductivity;

/**
 * Every promised reading stored exactly once, nothing stored twice, each monitor's counter equal
 * to its readings and its per-minute rollups equal to them. Waits (up to `settleMs`) for readings
 * acked but not yet written by ingest.
 */
export async function checkReadings(
  gateways: readonly string[],
  bearer: string,
  expectations: readonly Expectation[],
  settleMs: number,
): Promise<ReadingsVerdict> {
  const until = Date.now() + settleMs;
  let points = new Map<string, Point[]>();
  for (;;) {
    points = new Map();
    let missing = 0;
    for (const e of expectations) {
      const ps = await readingsOf(gateways, bearer, e.monitorId);
      points.set(e.monitorId, ps);
      const seen = new Set(ps.map((p) => keyOf(e, p)));
      for (const k of e.must) if (!seen.has(k)) missing++;
    }
    if (missing === 0 || Date.now() > until) break;
    await sleep(2_000);
  }
  // Counters and rollups are written with the readings' round: wait for them to settle too.
  await sleep(1_000);
  const v: ReadingsVerdict = {
    monitors: expectations.length,
    promised: 0,
    stored: 0,
    lost: 0,
    duplicated: 0,
    unexpected: 0,
    counterMismatches: [],
    rollupMismatches: [],
  };
  for (const e of expectations) {
    const ps = points.get(e.monitorId) ?? [];
    const counts = new Map<number | undefined, number>();
    for (const p of ps) counts.set(keyOf(e, p), (counts.get(keyOf(e, p)) ?? 0) + 1);
    v.promised += e.must.size;
    v.stored += ps.length;
    for (const k of e.must) if (!counts.has(k)) v.lost++;
    for (const [k, n] of counts) {
      if (n > 1) v.duplicated += n - 1;
      if (k === undefined || (!e.must.has(k) && !e.may.has(k))) v.unexpected += n;
    }
    const monitor = await call(gateways[0] as string, "GET", `/api/v2/monitors/${e.monitorId}`, { bearer });
    const m = monitor.body as { readingsStored?: number; readingsRejected?: number };
    if (monitor.status !== 200 || m.readingsStored !== ps.length || m.readingsRejected !== 0) {
      v.counterMismatches.push(
        `${e.monitorId.slice(0, 8)}: readingsStored ${m.readingsStored}, rejected ${m.readingsRejected}, readings ${ps.length}`,
      );
    }
    v.rollupMismatches.push(...(await checkRollups(gateways, bearer, e.monitorId, ps)));
  }
  return v;
}

/** Per minute: the rollup's ph count and sum against the stored readings'. */
async function checkRollups(
  gateways: readonly string[],
  bearer: string,
  monitorId: string,
  points: readonly Point[],
): Promise<string[]> {
  const withPh = points.filter((p) => typeof p.values.ph === "number");
  if (withPh.length === 0) return [];
  const expected = new Map<number, { count: number; sum: number }>();
  for (const p of withPh) {
    const minute = Math.floor(p.at / 60_000) * 60_000;
    const e = expected.get(minute) ?? { count: 0, sum: 0 };
    e.count++;
    e.sum += p.values.ph as number;
    expected.set(minute, e);
  }
  const from = Math.min(...expected.keys());
  const to = Math.max(...expected.keys()) + 59_999;
  const a = await call(
    gateways[0] as string,
    "GET",
    `/api/v2/monitors/${monitorId}/series?measurements=ph:count,ph:sum&interval=1m&from=${from}&to=${to}`,
    { bearer },
  );
  if (a.status !== 200) return [`${monitorId.slice(0, 8)}: series ${a.status}`];
  const series = (a.body as { series: { aggregate: string; points: { start: number; value: number | null }[] }[] })
    .series;
  const count = new Map(series[0]?.points.map((p) => [p.start, p.value ?? 0]));
  const sum = new Map(series[1]?.points.map((p) => [p.start, p.value ?? 0]));
  const out: string[] = [];
  for (const [minute, e] of expected) {
    const c = count.get(minute) ?? 0;
    const s = sum.get(minute) ?? 0;
    if (c !== e.count || Math.abs(s - e.sum) > 1e-6 * Math.max(1, Math.abs(e.sum))) {
      out.push(
        `${monitorId.slice(0, 8)}@${new Date(minute).toISOString().slice(11, 16)}: rollup ${c}/${s.toFixed(3)}, readings ${e.count}/${e.sum.toFixed(3)}`,
      );
    }
  }
  for (const [minute, c] of count) {
    if (!expected.has(minute) && c > 0) out.push(`${monitorId.slice(0, 8)}@${minute}: rollup ${c} without readings`);
  }
  return out;
}

export interface StorageVerdict {
  /** GridFS chunks whose file is neither stored nor an upload in progress (tus or a registered upload). */
  orphanedChunks: number;
  /** Chunks of uploads that died and that media's sweeper has yet to remove (not a fault). */
  pendingSweep: number;
  /** Analysis job directories left in the analysis temp directory. */
  tempDirs: string[];
}

export async function checkStorage(mongoUrl: string, analysisTmp: string): Promise<StorageVerdict> {
  const client = await new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000 }).connect();
  try {
    const db = client.db("trellis_media");
    const collections = (await db.listCollections().toArray()).map((c) => c.name);
    const tus = new Set((await db.collection("tus_uploads").distinct("_id")).map(String));
    const uploads = new Set((await db.collection("uploads").distinct("_id")).map(String));
    let orphanedChunks = 0;
    let pendingSweep = 0;
    for (const chunks of collections.filter((c) => c.endsWith(".chunks"))) {
      const bucket = chunks.slice(0, -".chunks".length);
      const ids = (await db.collection(chunks).distinct("files_id")).map(String);
      const files = new Set((await db.collection(`${bucket}.files`).distinct("_id")).map(String));
      for (const id of ids) {
        if (files.has(id) || tus.has(id)) continue;
        const n = await db.collection(chunks).countDocuments({ files_id: id });
        if (uploads.has(id)) pendingSweep += n;
        else orphanedChunks += n;
      }
    }
    // A worker killed right as it made its job directory leaves it unmarked: the analysis service's
    // sweep removes it once UNMARKED_GRACE_MS (15 s) old, every JOB_DIR_SWEEP_MS (10 s).
    const list = () => {
      try {
        return readdirSync(analysisTmp);
      } catch {
        return [];
      }
    };
    let tempDirs = list();
    for (const until = Date.now() + 30_000; tempDirs.length > 0 && Date.now() < until; tempDirs = list())
      await sleep(1_000);
    return { orphanedChunks, pendingSweep, tempDirs: tempDirs.map((name) => describeJobDir(analysisTmp, name)) };
  } finally {
    await client.close();
  }
}

/**
 * A job directory left behind, said so that a failure can be told apart: its owner (the process
 * that made it: alive or gone), its files, and the processes still working in it.
 */
function describeJobDir(root: string, name: string): string {
  const dir = join(root, name);
  let owner = "no owner file";
  try {
    const o = JSON.parse(readFileSync(join(dir, ".owner.json"), "utf8")) as { pid: number };
    let alive = true;
    try {
      process.kill(o.pid, 0);
    } catch {
      alive = false;
    }
    owner = `owner pid ${o.pid} ${alive ? "alive" : "gone"}`;
  } catch {
    // none, or unreadable
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    // removed meanwhile
  }
  const working: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(dir)) working.push(`${entry} ${cmdline.split("\0")[0]}`);
    } catch {
      // gone meanwhile
    }
  }
  return `${name} (${owner}; files: ${files.join(" ") || "none"}; processes naming it: ${working.join(", ") || "none"})`;
}
