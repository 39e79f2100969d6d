/**
 * Media benchmark (issue 9): a video of BENCH_MEDIA_MB MiB (default 1024) uploaded and downloaded
 * through the gateway (HTTP → gateway → NATS → media → GridFS and back) against raw
 * `GridFSBucket` streams into and out of the same server in the same run; time to first byte of
 * a Range request in the middle of the file against one at offset 0; and the peak RSS growth of
 * each process (gateway, media, NATS server, MongoDB-protocol server) during the transfers.
 * One run, printed as a table. Not a test: `npm run bench:media`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { freePort } from "@trellis/stack";
import { GridFSBucket, MongoClient } from "mongodb";
import { fakeMp4 } from "../tests/support/video.ts";
import { startBench } from "./support.ts";

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MEDIA_MB ?? 1024) * MiB;
// An MP4 `ftyp` box first, so media takes it for a video; ffprobe is off (random bytes).
const BLOCK = fakeMp4(4 * MiB);

/** The file's bytes, lazily: the same 4 MiB block again and again. */
function* source(): Generator<Buffer> {
  for (let sent = 0; sent < SIZE; sent += BLOCK.length) yield BLOCK.subarray(0, Math.min(BLOCK.length, SIZE - sent));
}

// --- RSS of each process, sampled every 50 ms --------------------------------------------------

const rssOf = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
};

/** Child processes of this one whose command name starts with `prefix` (the local servers). */
function childNamed(prefix: string): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && comm.startsWith(prefix)) return Number(d);
    } catch {
      // gone
    }
  }
  return undefined;
}

async function withPeakRss<T>(pids: Map<string, number>, run: () => Promise<T>) {
  const base = new Map([...pids].map(([n, p]) => [n, rssOf(p)]));
  const peak = new Map(base);
  const timer = setInterval(() => {
    for (const [n, p] of pids) peak.set(n, Math.max(peak.get(n) ?? 0, rssOf(p)));
  }, 50);
  const t0 = performance.now();
  try {
    const result = await run();
    return {
      result,
      seconds: (performance.now() - t0) / 1000,
      growth: new Map([...pids.keys()].map((n) => [n, (peak.get(n) ?? 0) - (base.get(n) ?? 0)])),
    };
  } finally {
    clearInterval(timer);
  }
}

// --- HTTP ---------------------------------------------------------------------------------------

function upload(url: string, bearer: string): Promise<{ id: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "video/mp4", "content-length": String(SIZE) },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () =>
        res.statusCode === 201 ? resolve(JSON.parse(body)) : reject(new Error(`${res.statusCode} ${body}`)),
      );
    });
    (async () => {
      for (const b of source()) if (!req.write(b)) await new Promise((r) => req.once("drain", r));
      req.end();
    })().catch(reject);
  });
}

/** GET, reading the body to the end; the time to its first byte and the bytes read. */
function download(url: string, bearer: string, range?: string, stopAfterFirst = false) {
  return new Promise<{ ttfbMs: number; bytes: number; status: number }>((resolve, reject) => {
    const t0 = performance.now();
    const req = httpRequest(url, { headers: { authorization: `Bearer ${bearer}`, ...(range ? { range } : {}) } });
    req.on("error", reject);
    req.on("response", (res) => {
      let ttfbMs = -1;
      let bytes = 0;
      res.on("data", (c: Buffer) => {
        if (ttfbMs < 0) ttfbMs = performance.now() - t0;
        bytes += c.length;
        if (stopAfterFirst) {
          req.destroy();
          resolve({ ttfbMs, bytes, status: res.statusCode ?? 0 });
        }
      });
      res.on("end", () => resolve({ ttfbMs, bytes, status: res.statusCode ?? 0 }));
    });
    req.end();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const mbps = (bytes: number, s: number) => bytes / MiB / s;

async function main(): Promise<void> {
  const bench = await startBench();
  try {
    const admin = { TRELLIS_ADMIN_USERNAME: "bench-admin", TRELLIS_ADMIN_PASSWORD: "Bench-Admin-Pw-1234" };
    await bench.start("auth", admin);
    const media = await bench.start("media", { VIDEO_MAX_BYTES: String(SIZE * 2), FFPROBE_PATH: "off" });
    const port = await freePort();
    const gateway = await bench.start("gateway", { PORT: String(port), REQUEST_TIMEOUT_MS: "30000" });
    const base = `http://127.0.0.1:${port}`;
    const login = await fetch(`${base}/api/v2/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        username: admin.TRELLIS_ADMIN_USERNAME,
        password: admin.TRELLIS_ADMIN_PASSWORD,
      }),
    });
    const bearer = ((await login.json()) as { access_token: string }).access_token;

    const pids = new Map<string, number>([
      ["gateway", gateway.pid],
      ["media", media.pid],
    ]);
    const ferret = childNamed("ferretdb");
    const nats = childNamed("nats-server");
    if (ferret) pids.set("ferretdb", ferret);
    if (nats) pids.set("nats-server", nats);

    const mongo = await new MongoClient(bench.stack.mongo.url).connect();
    const bucket = new GridFSBucket(mongo.db(`bench_raw_${Date.now()}`), { bucketName: "raw" });
    const rawUp = await withPeakRss(pids, async () => {
      const up = bucket.openUploadStreamWithId("raw" as never, "raw.bin");
      for (const b of source()) if (!up.write(b)) await new Promise((r) => up.once("drain", r));
      await new Promise<void>((res, rej) => up.end((e?: Error | null) => (e ? rej(e) : res())));
    });
    const rawDown = await withPeakRss(pids, async () => {
      let n = 0;
      for await (const c of bucket.openDownloadStream("raw" as never)) n += (c as Buffer).length;
      return n;
    });
    const up = await withPeakRss(pids, () => upload(`${base}/api/v2/videos?filename=bench.mp4`, bearer));
    const content = `${base}/api/v2/videos/${up.result.id}/content`;
    const down = await withPeakRss(pids, () => download(content, bearer));
    if (down.result.bytes !== SIZE) throw new Error(`downloaded ${down.result.bytes} of ${SIZE} bytes`);

    const ttfb = async (offset: number) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await download(content, bearer, `bytes=${offset}-${offset + MiB - 1}`);
        if (r.status !== 206 || r.bytes !== MiB) throw new Error(`range at ${offset}: ${r.status}, ${r.bytes} bytes`);
        times.push(r.ttfbMs);
      }
      return median(times);
    };
    const atStart = await ttfb(0);
    const atMiddle = await ttfb(Math.floor(SIZE / 2 / MiB) * MiB);
    const atEnd = await ttfb(SIZE - MiB);
    await mongo.close();

    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`\nmedia benchmark: one ${SIZE / MiB} MiB file, ${bench.stack.mongo.description}`);
    out(
      `upload   through the gateway ${mbps(SIZE, up.seconds).toFixed(1)} MiB/s, raw GridFSBucket ${mbps(SIZE, rawUp.seconds).toFixed(1)} MiB/s: ratio ${(rawUp.seconds / up.seconds).toFixed(2)} (goal ≥ 0.7)`,
    );
    out(
      `download through the gateway ${mbps(SIZE, down.seconds).toFixed(1)} MiB/s, raw GridFSBucket ${mbps(SIZE, rawDown.seconds).toFixed(1)} MiB/s: ratio ${(rawDown.seconds / down.seconds).toFixed(2)} (goal ≥ 0.5)`,
    );
    out(
      `Range (1 MiB) time to first byte, median of 5: offset 0 ${atStart.toFixed(1)} ms, middle ${atMiddle.toFixed(1)} ms, last MiB ${atEnd.toFixed(1)} ms (goal: middle within 2x of offset 0)`,
    );
    out("peak RSS growth, MiB (goal < 64):");
    for (const [name, phase] of [
      ["raw upload", rawUp],
      ["raw download", rawDown],
      ["gateway upload", up],
      ["gateway download", down],
    ] as const) {
      out(`  ${name.padEnd(18)}${[...phase.growth].map(([n, b]) => `${n} ${(b / MiB).toFixed(0)}`).join(", ")}`);
    }
  } finally {
    await bench.stop();
  }
}

await main();
