/**
 * `npm run bench:console`: the console's live chart in Debian's chromium at 1,000 readings/s for one
 * monitor (the real device simulator → NATS → telemetry → the gateway's SSE → the page) for
 * `BENCH_SECONDS` (default 60) after a 5 s warm-up. Every 10 s it reads, through the DevTools
 * protocol, the page's JS heap after a forced garbage collection and its DOM node count, and from
 * the page the readings the chart took, the chart's draws and the animation frames the browser ran.
 * Also prints the operator pages' first load, gzipped. The chart must keep up (readings taken ≈
 * readings sent) without its heap growing. The chart draws once per animation frame in which new
 * readings arrived, so draws/s below the browser's frames/s means readings arrive in that many
 * batches a second (telemetry's ingest rounds), not that drawing falls behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { freePort } from "@trellis/stack";
import { ensureConsoleBuilt } from "../packages/console/build.ts";
import { launch } from "../tests/support/chromium.ts";
import { startBench } from "./support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const ADMIN = { username: "bench-admin", password: "Correct-Horse-Battery-9" };
const root = join(import.meta.dirname, "..");
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

await ensureConsoleBuilt({ log: say });
const bench = await startBench();
const tmp = mkdtempSync(join(tmpdir(), "trellis-console-bench-"));
let simulator: ChildProcess | undefined;
const browser = await launch();
try {
  const admin = { TRELLIS_ADMIN_USERNAME: ADMIN.username, TRELLIS_ADMIN_PASSWORD: ADMIN.password };
  await Promise.all([bench.start("auth", admin), bench.start("telemetry", admin)]);
  const port = await freePort();
  await bench.start("gateway", { ...admin, PORT: String(port) });
  const base = `http://127.0.0.1:${port}`;

  // First load of the operator pages: index.html and what it links (the entry script and CSS).
  const html = await (await fetch(`${base}/console/`)).text();
  let firstLoad = gzipSync(html, { level: 9 }).length;
  for (const [asset] of html.matchAll(/\/console\/assets\/[^"]+\.(?:js|css)/g)) {
    firstLoad += gzipSync(Buffer.from(await (await fetch(`${base}${asset}`)).arrayBuffer()), { level: 9 }).length;
  }

  const token = (await (
    await fetch(`${base}/api/v2/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "password", ...ADMIN }),
    })
  ).json()) as { access_token: string };
  const me = (await (
    await fetch(`${base}/api/v2/me`, { headers: { authorization: `Bearer ${token.access_token}` } })
  ).json()) as { userId: string };
  const credentials = join(tmp, "monitors.json");
  simulator = spawn(
    process.execPath,
    [
      join(root, "scripts", "simulate-devices.ts"),
      ...["--gateway", base, "--nats", bench.stack.nats.url, "--admin", `${ADMIN.username}:${ADMIN.password}`],
      ...["--monitors", "1", "--rate", String(RATE), "--duration", String(SECONDS + 30), "--owner", me.userId],
      ...["--save-credentials", credentials],
    ],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
  );
  let monitorId = "";
  for (let i = 0; i < 150 && !monitorId; i++) {
    try {
      monitorId = JSON.parse(readFileSync(credentials, "utf8"))[0].id;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (!monitorId) throw new Error("the simulator created no monitor");

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  await page.goto(`${base}/console/`);
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Monitors" }).waitFor();
  await page.goto(`${base}/console/monitors/${monitorId}`);
  // Polled with evaluate (the DevTools protocol): waitForFunction's string form needs eval, which the CSP forbids.
  for (let i = 0; i < 300 && !(await page.evaluate("(window.__liveChart?.points ?? 0) > 0")); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // The browser's own frame counter, beside the chart's draw counter.
  await page.evaluate("window.__frames = 0; (function f() { window.__frames++; requestAnimationFrame(f); })()");
  await new Promise((r) => setTimeout(r, 5000));

  const sample = async () => {
    await cdp.send("HeapProfiler.collectGarbage");
    const { metrics } = (await cdp.send("Performance.getMetrics")) as { metrics: { name: string; value: number }[] };
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    const page_ = (await page.evaluate(
      "({ points: window.__liveChart.points, draws: window.__liveChart.frames, frames: window.__frames })",
    )) as { points: number; draws: number; frames: number };
    return { at: Date.now(), heapMiB: (m.JSHeapUsedSize ?? 0) / 2 ** 20, nodes: m.Nodes ?? 0, ...page_ };
  };
  const samples = [await sample()];
  for (let t = 10; t <= SECONDS; t += 10) {
    await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - (samples.at(-1)?.at ?? Date.now()))));
    samples.push(await sample());
  }
  const first = samples[0] as (typeof samples)[number];
  const last = samples.at(-1) as (typeof samples)[number];
  const secs = (last.at - first.at) / 1000;
  console.log(
    `\nconsole live chart, ${RATE} readings/s sent for one monitor, ${secs.toFixed(0)} s measured (after 5 s warm-up)`,
  );
  console.log("| t (s) | readings taken/s | chart draws/s | browser frames/s | JS heap after GC (MiB) | DOM nodes |");
  console.log("|---|---|---|---|---|---|");
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as (typeof samples)[number];
    const b = samples[i] as (typeof samples)[number];
    const dt = (b.at - a.at) / 1000;
    console.log(
      `| ${((b.at - first.at) / 1000).toFixed(0)} | ${((b.points - a.points) / dt).toFixed(0)} | ${((b.draws - a.draws) / dt).toFixed(1)} | ${((b.frames - a.frames) / dt).toFixed(1)} | ${b.heapMiB.toFixed(1)} | ${b.nodes} |`,
    );
  }
  console.log(
    `overall: ${((last.points - first.points) / secs).toFixed(0)} readings/s taken, ${((last.draws - first.draws) / secs).toFixed(1)} draws/s, heap ${first.heapMiB.toFixed(1)} → ${last.heapMiB.toFixed(1)} MiB`,
  );
  console.log(`operator pages' first load: ${(firstLoad / 1024).toFixed(1)} KB gzipped`);
} finally {
  simulator?.kill("SIGINT");
  await browser.close();
  await bench.stop();
  rmSync(tmp, { recursive: true, force: true });
}
