/**
 * Analyses of video URLs through the real gateway, auth, media and analysis processes, on real
 * Redis, NATS, the MongoDB-protocol server, ffmpeg and yt-dlp (installed by scripts/install-deps.sh).
 * The origin is a local node:http server speaking plain HTTP: a web page with an HTML5 `<video>`
 * and a `<track>` of WebVTT captions (yt-dlp's generic extractor reads both), the MP4 (with
 * Range), a page without captions, a page that is gone (404), one that fails once (503), and a
 * page whose MP4 trickles (to cancel during the download, and to SIGKILL the worker mid-download).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { urlVideoId } from "@trellis/contracts";
import { freePort } from "@trellis/stack";
import { poll, spawnService, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectKeyframePictures, FACTS, factsVtt } from "./support/analysis.ts";
import { isMarkedCuePlain, LEFTOVER_MARKUP, markedVtt } from "./support/marked-transcript.ts";
import { http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const VIDEO_SECONDS = 20;

const vtt = factsVtt(2);

const page = (video: string, track: boolean, captions = "/captions.vtt") =>
  `<!doctype html><html><head><title>Hydroponics lesson</title></head><body><h1>Lesson</h1>
<video controls width="320" src="${video}">${track ? `<track kind="subtitles" srclang="en" label="English" src="${captions}" default>` : ""}</video>
</body></html>`;

const stack = useFileStack();
let platform: Platform;
let base: string;
let origin: Server;
let originUrl: string;
let video: Buffer;
let workDir: string;
let jobsTmp: string;
let alice: { id: string; bearer: string };
let bob: { id: string; bearer: string };
/** Requests the origin got, by path. */
const hits = new Map<string, number>();
/** Open trickling responses (closed when the client goes). */
const trickling = new Set<ServerResponse>();

/** The MP4 with Range support (yt-dlp may resume or probe). */
function sendVideo(req: IncomingMessage, res: ServerResponse): void {
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  const start = range ? Number(range[1]) : 0;
  const end = range?.[2] ? Math.min(Number(range[2]), video.length - 1) : video.length - 1;
  if (start >= video.length) {
    res.writeHead(416, { "content-range": `bytes */${video.length}` }).end();
    return;
  }
  res.writeHead(range ? 206 : 200, {
    "content-type": "video/mp4",
    "accept-ranges": "bytes",
    "content-length": String(end - start + 1),
    ...(range ? { "content-range": `bytes ${start}-${end}/${video.length}` } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : video.subarray(start, end + 1));
}

/** The MP4, 8 KiB every 200 ms: a download that takes minutes. */
function trickle(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "video/mp4", "content-length": String(video.length) });
  trickling.add(res);
  let offset = 0;
  const timer = setInterval(() => {
    if (offset >= video.length) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(video.subarray(offset, offset + 8_192));
    offset += 8_192;
  }, 200);
  res.on("close", () => {
    clearInterval(timer);
    trickling.delete(res);
  });
}

function serveOrigin(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const html = (body: string) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(body);
  switch (path) {
    case "/lesson.html":
      return void html(page("/clip.mp4", true));
    case "/silent.html":
      return void html(page("/clip.mp4", false));
    case "/unsized.html":
      return void html(page("/unsized.mp4", true));
    case "/unsized.mp4":
      // No Content-Length (chunked): only the bytes written tell the size.
      res.writeHead(200, { "content-type": "video/mp4" });
      return void res.end(video);
    case "/slow.html":
      return void html(page("/slow.mp4", true));
    case "/flaky.html":
      // The first request fails as an overloaded origin would; the next ones get the page.
      if ((hits.get(path) ?? 0) === 1) return void res.writeHead(503).end("try later");
      return void html(page("/clip.mp4", true));
    case "/captions.vtt":
      return void res.writeHead(200, { "content-type": "text/vtt" }).end(vtt);
    case "/marked.html":
      return void html(page("/clip.mp4", true, "/marked.vtt"));
    case "/marked.vtt":
      return void res.writeHead(200, { "content-type": "text/vtt" }).end(markedVtt);
    case "/clip.mp4":
      return void sendVideo(req, res);
    case "/slow.mp4":
      return void trickle(res);
    default:
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  }
}

const start = (who: { bearer: string }, json: Record<string, unknown>) =>
  http(base, "POST", "/api/v2/analyses", {
    bearer: who.bearer,
    json: { title: "Hydroponics by URL", num_questions: 5, keyframe_interval: 4, ...json },
  });
const get = (who: { bearer: string }, id: string) =>
  http(base, "GET", `/api/v2/analyses/${id}`, { bearer: who.bearer });
const finished = (who: { bearer: string }, id: string, timeoutMs = 60_000) =>
  poll(
    () => get(who, id),
    (r) => r.status === 200 && ["completed", "failed", "cancelled"].includes(r.body.state),
    { timeoutMs, intervalMs: 100 },
  ).then((r) => r.value.body);

/** yt-dlp processes working for an analysis (their command line names its job directory). */
function ytDlpOf(analysisId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const zombie = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
      if (!zombie && cmd.includes("yt-dlp") && cmd.includes(`trellis-analysis-${analysisId}`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Whether a process runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

const jobDirsOf = (analysisId: string) => readdirSync(jobsTmp).filter((d) => d.includes(analysisId));

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "trellis-analysis-url-test-"));
  jobsTmp = join(workDir, "jobs");
  mkdirSync(jobsTmp);
  video = testVideo({ seconds: VIDEO_SECONDS, pattern: "testsrc2", audio: true });
  origin = createServer(serveOrigin);
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis"],
    extraEnv: {
      // The origin is this machine's 127.0.0.1 (egress to private addresses is off by default).
      ALLOW_PRIVATE_EGRESS: "true",
      ANALYSIS_TMP_DIR: jobsTmp,
      WORKER_CONCURRENCY: "2",
      JOB_ATTEMPTS: "3",
      JOB_BACKOFF_MS: "300",
    },
  });
  base = platform.base;
  [alice, bob] = await Promise.all([
    registerUser(base, platform.suffix, "alice"),
    registerUser(base, platform.suffix, "bob"),
  ]);
}, 120_000);

afterAll(async () => {
  for (const res of trickling) res.destroy();
  await platform?.stop();
  await new Promise((r) => origin?.close(r));
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("URL analyses", () => {
  it("refuses a bad YouTube URL, a non-http URL, and both or neither of video_id and url with 400", async () => {
    for (const url of [
      "https://www.youtube.com/watch?v=tooshort",
      "https://youtu.be/",
      "https://www.youtube.com/shorts/abc",
      "https://www.youtube.com/channel/UC123",
      "ftp://example.com/video.mp4",
      "javascript:alert(1)",
      "not a url",
    ]) {
      const res = await start(alice, { url });
      expect(res.status, url).toBe(400);
      expect(res.body.error.code).toBe("invalid_argument");
    }
    const both = await start(alice, {
      url: `${originUrl}/lesson.html`,
      video_id: "00000000-0000-4000-8000-000000000000",
    });
    expect(both.status).toBe(400);
    expect((await start(alice, {})).status).toBe(400);
    expect((await start(alice, { url: `${originUrl}/lesson.html`, num_questions: 51 })).status).toBe(400);
    // Nothing was queued.
    const list = await http(base, "GET", "/api/v2/analyses", { bearer: alice.bearer });
    expect(list.body.items).toEqual([]);
  });

  it("analyses a web page's HTML5 video: captions from its <track>, keyframes stored in media, N questions inside the video", async () => {
    const url = `${originUrl}/lesson.html`;
    const started = await start(alice, { url: `${url}#t=3` });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.headers.get("location")).toBe(`/api/v2/analyses/${started.body.id}`);
    const id: string = started.body.id;
    // The canonical URL (no fragment); the video id is the caller's own for that URL.
    expect(started.body).toMatchObject({ url, ownerId: alice.id, state: "waiting", numQuestions: 5 });
    expect(started.body.videoId).toBe(await urlVideoId(alice.id, url));
    expect(started.body.youtubeId).toBeUndefined();
    // One active analysis per URL (per owner): the same one, 200.
    const again = await start(alice, { url });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(id);

    const done = await finished(alice, id);
    expect(done.state, JSON.stringify(done)).toBe("completed");
    expect(done.progress).toEqual({ stage: "done", percent: 100 });
    expect(done.attempts).toBe(1);
    expect(done.keyframeIds).toHaveLength(VIDEO_SECONDS / 4);
    await expectKeyframePictures(base, alice, done.keyframeIds);
    const questions = await http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: alice.bearer });
    expect(questions.status).toBe(200);
    expect(questions.body.items).toHaveLength(5);
    const transcript = FACTS.join(" ");
    for (const q of questions.body.items) {
      expect(q.timestampMs).toBeGreaterThanOrEqual(0);
      expect(q.timestampMs).toBeLessThan(VIDEO_SECONDS * 1000);
      expect(q.options).toContain(q.answer);
      expect(transcript).toContain(q.answer);
      expect(done.keyframeIds).toContain(q.keyframeId);
      expect(q.videoId).toBe(done.videoId);
    }
    // Captions and media came from the origin through yt-dlp.
    expect(hits.get("/captions.vtt")).toBeGreaterThanOrEqual(1);
    expect(hits.get("/clip.mp4")).toBeGreaterThanOrEqual(1);
    expect(readdirSync(jobsTmp)).toEqual([]);

    // Others see nothing; listed by its video id; a finished one can run again.
    expect((await get(bob, id)).status).toBe(404);
    const list = await http(base, "GET", `/api/v2/analyses?video_id=${done.videoId}`, { bearer: alice.bearer });
    expect(list.body.items.map((a: { id: string }) => a.id)).toEqual([id]);
    const rerun = await start(alice, { url, num_questions: 2, keyframe_interval: 10 });
    expect(rerun.status).toBe(202);
    expect(rerun.body.id).not.toBe(id);
    const second = await finished(alice, rerun.body.id);
    expect(second.state, JSON.stringify(second)).toBe("completed");
    expect(second.questionCount).toBe(2);
  }, 120_000);

  it("reads captions with character references and markup as plain text, as media does (plainCueText)", async () => {
    const started = await start(alice, { url: `${originUrl}/marked.html`, num_questions: 4, keyframe_interval: 10 });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await finished(alice, started.body.id);
    expect(done.state, JSON.stringify(done)).toBe("completed");
    expect(hits.get("/marked.vtt")).toBeGreaterThanOrEqual(1);
    const questions = await http(base, "GET", `/api/v2/analyses/${started.body.id}/questions`, {
      bearer: alice.bearer,
    });
    expect(questions.body.items.length).toBeGreaterThanOrEqual(2);
    for (const q of questions.body.items as {
      text: string;
      answer: string;
      explanation: string;
      options: string[];
    }[]) {
      for (const t of [q.text, q.answer, q.explanation, ...q.options]) expect(t).not.toMatch(LEFTOVER_MARKUP);
      expect(isMarkedCuePlain(q.explanation), q.explanation).toBe(true);
    }
  }, 60_000);

  it("fails a URL without captions (a page without <track>, a direct MP4) with 'no transcript available': its questions 404", async () => {
    for (const path of ["/silent.html", "/clip.mp4"]) {
      const started = await start(alice, { url: `${originUrl}${path}` });
      expect(started.status).toBe(202);
      const done = await finished(alice, started.body.id);
      expect(done.state, JSON.stringify(done)).toBe("failed");
      expect(done.error).toEqual({ code: "not_found", message: "no transcript available" });
      expect(done.attempts).toBe(1);
      expect(done.keyframeIds).toEqual([]);
      const questions = await http(base, "GET", `/api/v2/analyses/${started.body.id}/questions`, {
        bearer: alice.bearer,
      });
      expect(questions.status).toBe(404);
      expect(questions.body.error.message).toBe("no transcript available");
    }
    expect(readdirSync(jobsTmp)).toEqual([]);
  }, 60_000);

  it("fails a URL the origin answers 404 as invalid input, never retried", async () => {
    const started = await start(alice, { url: `${originUrl}/gone.html` });
    expect(started.status).toBe(202);
    const done = await finished(alice, started.body.id);
    expect(done.state, JSON.stringify(done)).toBe("failed");
    expect(done.error.code).toBe("invalid_argument");
    expect(done.error.message).toMatch(/HTTP Error 404/);
    const requests = hits.get("/gone.html");
    expect(requests).toBe(1);
    // Past several backoffs: still failed after one attempt, and the origin was not asked again.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await get(alice, started.body.id)).body).toMatchObject({ state: "failed", attempts: 1 });
    expect(hits.get("/gone.html")).toBe(requests);
  }, 60_000);

  it("retries a transient origin failure (503) with backoff, and completes", async () => {
    const started = await start(alice, { url: `${originUrl}/flaky.html`, num_questions: 2, keyframe_interval: 10 });
    expect(started.status).toBe(202);
    const done = await finished(alice, started.body.id, 90_000);
    expect(done.state, JSON.stringify(done)).toBe("completed");
    expect(done.attempts).toBe(2);
    expect(done.questionCount).toBe(2);
    expect(hits.get("/flaky.html")).toBe(2);
  }, 120_000);

  it("retries a network failure (connection refused) until attempts run out", async () => {
    const closed = await freePort();
    const started = await start(alice, { url: `http://127.0.0.1:${closed}/lesson.html` });
    const done = await finished(alice, started.body.id, 90_000);
    expect(done.state, JSON.stringify(done)).toBe("failed");
    expect(done.error.code).toBe("unavailable");
    expect(done.error.message).toMatch(/Connection refused/);
    expect(done.attempts).toBe(3);
  }, 120_000);

  it("cancels during the download: yt-dlp killed within 1 s, its download stopped, nothing left", async () => {
    const started = await start(alice, { url: `${originUrl}/slow.html` });
    const id: string = started.body.id;
    // Downloading: yt-dlp runs and the origin is sending the MP4.
    await poll(
      () => ({ pids: ytDlpOf(id), sending: trickling.size }),
      (s) => s.pids.length > 0 && s.sending > 0,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const pids = ytDlpOf(id);
    const res = await http(base, "POST", `/api/v2/analyses/${id}/cancel`, { bearer: alice.bearer });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ id, state: "cancelled", previousState: "active" });
    const gone = await poll(
      () => ytDlpOf(id),
      (p) => p.length === 0,
      { timeoutMs: 1_000, intervalMs: 20 },
    );
    expect(gone.value).toEqual([]);
    for (const pid of pids) expect(ytDlpOf(id)).not.toContain(pid);
    // The origin sees the download go; no temp dir, no keyframe, never retried.
    await poll(
      () => trickling.size,
      (n) => n === 0,
      { timeoutMs: 2_000 },
    );
    await poll(
      () => jobDirsOf(id),
      (d) => d.length === 0,
      { timeoutMs: 2_000 },
    );
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await get(alice, id)).body).toMatchObject({ state: "cancelled", keyframeIds: [], attempts: 1 });
  }, 60_000);
});

describe("start-up", () => {
  it("does not start without yt-dlp, and says which variable to set", async () => {
    const proc = spawnService(
      "analysis",
      platform.env("analysis", {
        INSTANCE_ID: `analysis-${platform.suffix}-noytdlp`,
        YTDLP_PATH: "/nonexistent/yt-dlp",
      }),
    );
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('YTDLP_PATH: cannot run yt-dlp at \\"/nonexistent/yt-dlp\\"');
    expect(proc.output()).toContain("scripts/install-deps.sh");
    expect(proc.output()).not.toContain("service ready");
  }, 30_000);

  it("removes the job directory of a worker killed with SIGKILL and kills the orphans still working in it", async () => {
    for (const p of platform.procs.filter((p) => p.name === "analysis")) {
      await p.stop();
      platform.procs.splice(platform.procs.indexOf(p), 1);
    }
    const env = (n: string) =>
      platform.env("analysis", { INSTANCE_ID: `analysis-${platform.suffix}-${n}`, JOB_LOCK_MS: "60000" });
    const doomed = await startService("analysis", env("doomed"));
    const started = await start(bob, { url: `${originUrl}/slow.html` });
    const id: string = started.body.id;
    const { value: orphans } = await poll(
      () => ytDlpOf(id),
      (p) => p.length > 0,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(await doomed.stop("SIGKILL")).toBe(137);
    // yt-dlp itself exits on its own soon after (its stdout, a pipe to the dead worker, breaks);
    // a child that does not write to that pipe (yt-dlp's ffmpeg writing a file) stays an orphan,
    // working in the job directory: a real ffmpeg, started there the way yt-dlp starts it.
    const [dir] = jobDirsOf(id);
    expect(dir).toBeDefined();
    const jobDir = join(jobsTmp, dir as string);
    const child = spawn(
      "ffmpeg",
      ["-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=rate=5", "-y", "-f", "null", "-"],
      {
        cwd: jobDir,
        detached: true,
        stdio: "ignore",
      },
    );
    child.unref();
    const orphan = child.pid as number;
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(orphan)).toBe(true);

    const next = await startService("analysis", env("next"));
    platform.procs.push(next);
    const line = await next.waitForLog((l) => l.msg === "removed job directories of dead workers", 30_000);
    expect(line.removed).toEqual([jobDir]);
    expect(line.killed).toContain(orphan);
    for (const pid of line.killed as number[]) expect(alive(pid), String(pid)).toBe(false);
    expect(alive(orphan)).toBe(false);
    for (const pid of orphans) expect(alive(pid)).toBe(false);
    expect(jobDirsOf(id)).toEqual([]);
    // The job itself is not lost: cancelling it is still possible (its lock has not expired yet).
    const res = await http(base, "POST", `/api/v2/analyses/${id}/cancel`, { bearer: bob.bearer });
    expect(res.status).toBe(200);
    expect(res.body.previousState).toBe("active");
  }, 90_000);
});

describe("bounds", () => {
  it("fails a video larger than YTDLP_MAX_BYTES, declared or not, as invalid input (not retried)", async () => {
    for (const p of platform.procs.filter((p) => p.name === "analysis")) {
      await p.stop();
      platform.procs.splice(platform.procs.indexOf(p), 1);
    }
    const bound = Math.floor(video.length / 4);
    platform.procs.push(
      await startService(
        "analysis",
        platform.env("analysis", { INSTANCE_ID: `analysis-${platform.suffix}-bound`, YTDLP_MAX_BYTES: String(bound) }),
      ),
    );
    for (const path of ["/lesson.html", "/unsized.html"]) {
      const started = await start(alice, { url: `${originUrl}${path}`, num_questions: 2 });
      expect(started.status).toBe(202);
      const done = await finished(alice, started.body.id);
      expect(done.state, `${path}: ${JSON.stringify(done)}`).toBe("failed");
      expect(done.error).toEqual({ code: "invalid_argument", message: `the video is larger than ${bound} bytes` });
      expect(done.attempts).toBe(1);
      expect(done.keyframeIds).toEqual([]);
      expect(jobDirsOf(started.body.id)).toEqual([]);
    }
  }, 60_000);

  it("kills a download past YTDLP_TIMEOUT_MS, as a transient failure retried until attempts run out", async () => {
    for (const p of platform.procs.filter((p) => p.name === "analysis")) {
      await p.stop();
      platform.procs.splice(platform.procs.indexOf(p), 1);
    }
    platform.procs.push(
      await startService(
        "analysis",
        platform.env("analysis", {
          INSTANCE_ID: `analysis-${platform.suffix}-timeout`,
          YTDLP_TIMEOUT_MS: "3000",
          JOB_ATTEMPTS: "2",
        }),
      ),
    );
    const started = await start(alice, { url: `${originUrl}/slow.html`, num_questions: 2 });
    const id: string = started.body.id;
    const done = await finished(alice, id, 60_000);
    expect(done.state, JSON.stringify(done)).toBe("failed");
    expect(done.error).toEqual({ code: "unavailable", message: "yt-dlp took longer than 3000 ms" });
    expect(done.attempts).toBe(2);
    expect(ytDlpOf(id)).toEqual([]);
    expect(jobDirsOf(id)).toEqual([]);
  }, 90_000);
});
