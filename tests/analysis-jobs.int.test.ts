/**
 * Analysis jobs through the real gateway, auth, media and analysis processes, on real Redis
 * (BullMQ, this file's own key prefix), NATS, the MongoDB-protocol server and ffmpeg: a video made
 * by ffmpeg with a WebVTT transcript is analysed into keyframes (pictures in media) and questions;
 * no transcript → 404; cancel of a waiting job and of one whose ffmpeg is running (its process
 * gone, no temp file or keyframe left, never retried); one active analysis per video; permissions;
 * the per-job timeout (failed, deadline_exceeded, not retried), a transient failure (media down
 * mid-job) retried with backoff until it completes, and SIGTERM handing a running job back.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { analysisEvents } from "@trellis/contracts";
import { poll, type ServiceProcess, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectKeyframePictures, factsVtt, ffmpegPidsOf, uploadVideo } from "./support/analysis.ts";
import { type Account, http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const VIDEO_SECONDS = 20;
/** ffmpeg reads the input at this multiple of real time: long enough to cancel it mid-run. */
const READ_RATE = 2;

const stack = useFileStack();
let platform: Platform;
let base: string;
let nc: NatsConnection;
let video: Buffer;
let jobsTmp: string;
let workDir: string;
let alice: Account;
let bob: Account;
let carol: Account;

/** One cue every two seconds. */
const vtt = factsVtt(2);

const register = (prefix: string): Promise<Account> => registerUser(base, platform.suffix, prefix);

const upload = (who: Account, transcript: boolean): Promise<string> =>
  uploadVideo(base, who, video, transcript ? vtt : undefined);

const start = (who: Account, videoId: string, extra: Record<string, unknown> = {}) =>
  http(base, "POST", "/api/v2/analyses", {
    bearer: who.bearer,
    json: { video_id: videoId, title: "Hydroponics 101", num_questions: 5, keyframe_interval: 4, ...extra },
  });
const get = (who: Account, id: string) => http(base, "GET", `/api/v2/analyses/${id}`, { bearer: who.bearer });
const cancel = (who: Account, id: string) =>
  http(base, "POST", `/api/v2/analyses/${id}/cancel`, { bearer: who.bearer });
const untilState = (who: Account, id: string, ok: (state: string) => boolean, timeoutMs = 60_000) =>
  poll(
    () => get(who, id),
    (r) => r.status === 200 && ok(r.body.state),
    { timeoutMs, intervalMs: 100 },
  );

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "trellis-analysis-test-"));
  jobsTmp = join(workDir, "jobs");
  execFileSync("mkdir", ["-p", jobsTmp]);
  video = testVideo({ seconds: VIDEO_SECONDS, pattern: "testsrc2", audio: true });
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis"],
    extraEnv: {
      FFMPEG_READ_RATE: String(READ_RATE),
      ANALYSIS_TMP_DIR: jobsTmp,
      WORKER_CONCURRENCY: "1",
      JOB_ATTEMPTS: "3",
      JOB_BACKOFF_MS: "200",
    },
  });
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  [alice, bob, carol] = await Promise.all([register("alice"), register("bob"), register("carol")]);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await platform?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("analysis jobs", () => {
  it("rejects bad input with 400 and a video without transcript with 404 'no transcript available'", async () => {
    const videoId = await upload(alice, false);
    for (const extra of [
      { num_questions: 0 },
      { num_questions: 51 },
      { keyframe_interval: 0 },
      { keyframe_interval: 601 },
    ]) {
      const res = await start(alice, videoId, extra);
      expect(res.status, JSON.stringify(extra)).toBe(400);
    }
    expect((await start(alice, "not-a-uuid")).status).toBe(400);
    const none = await start(alice, videoId);
    expect(none.status).toBe(404);
    expect(none.body.error.message).toBe("no transcript available");
  });

  it("starts arriving together: one analysis per video, every caller told which (group commit)", async () => {
    const [shared, ...others] = await Promise.all([1, 2, 3, 4].map(() => upload(bob, true)));
    const replies = await Promise.all([
      ...Array.from({ length: 6 }, () => start(bob, shared as string)),
      ...others.map((id) => start(bob, id)),
    ]);
    const onShared = replies.slice(0, 6);
    expect(onShared.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    expect(new Set(onShared.map((r) => r.body.id)).size).toBe(1);
    const onOthers = replies.slice(6);
    expect(onOthers.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(new Set(onOthers.map((r) => r.body.id)).size).toBe(3);
    for (const r of onOthers) expect(r.body.videoId).not.toBe(shared);
    const listed = await fetch(`${base}/api/v2/analyses?video_id=${shared}`, {
      headers: { authorization: `Bearer ${bob.bearer}` },
    });
    expect(((await listed.json()) as { items: { id: string }[] }).items.map((a) => a.id)).toEqual([
      onShared[0]?.body.id,
    ]);
    // Not needed further: stopped so that they do not hold the single worker.
    for (const r of [onShared[0], ...onOthers]) expect((await cancel(bob, r?.body.id)).status).toBe(200);
  });

  it("analyses a video: keyframes stored in media, N questions inside the video, progress events", async () => {
    const videoId = await upload(alice, true);
    const sub = nc.subscribe(analysisEvents.progress.subject);
    const seen: number[] = [];
    const started = await start(alice, videoId);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.headers.get("location")).toBe(`/api/v2/analyses/${started.body.id}`);
    expect(started.body).toMatchObject({ videoId, state: "waiting", numQuestions: 5, keyframeInterval: 4 });
    const id: string = started.body.id;
    void (async () => {
      for await (const m of sub) {
        const e = m.json<{ analysisId: string; progress: { percent: number } }>();
        if (e.analysisId === id) seen.push(e.progress.percent);
      }
    })();

    // One active analysis per video: starting again answers 200 with the same one.
    const again = await start(alice, videoId);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(id);

    const { value } = await untilState(alice, id, (s) => s === "completed" || s === "failed");
    sub.unsubscribe();
    expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
    expect(value.body.progress).toEqual({ stage: "done", percent: 100 });
    expect(value.body.startedAt).toBeDefined();
    expect(value.body.finishedAt).toBeDefined();
    expect(value.body.keyframeIds).toHaveLength(VIDEO_SECONDS / 4);
    await expectKeyframePictures(base, alice, value.body.keyframeIds);
    const questions = await http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: alice.bearer });
    expect(questions.status).toBe(200);
    expect(questions.body.items).toHaveLength(5);
    for (const q of questions.body.items) {
      expect(q.timestampMs).toBeGreaterThanOrEqual(0);
      expect(q.timestampMs).toBeLessThan(VIDEO_SECONDS * 1000);
      expect(q.options).toContain(q.answer);
      expect(value.body.keyframeIds).toContain(q.keyframeId);
    }
    // Exports for an LMS: CSV, Moodle XML, GIFT as attachments; an unknown format is a 400.
    for (const [format, type, marker] of [
      ["csv", "text/csv", questions.body.items[0].answer],
      ["moodle", "application/xml", "<quiz>"],
      ["gift", "text/plain", "::"],
    ] as const) {
      const res = await fetch(`${base}/api/v2/analyses/${id}/questions?format=${format}`, {
        headers: { authorization: `Bearer ${alice.bearer}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="hydroponics-101-questions\./);
      expect(await res.text()).toContain(marker);
    }
    const pdf = await http(base, "GET", `/api/v2/analyses/${id}/questions?format=pdf`, { bearer: alice.bearer });
    expect(pdf.status).toBe(400);
    const bobsCsv = await http(base, "GET", `/api/v2/analyses/${id}/questions?format=csv`, { bearer: bob.bearer });
    expect(bobsCsv.status).toBe(404);

    expect(seen.length).toBeGreaterThan(2);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(readdirSync(jobsTmp)).toEqual([]);

    // Listed for the video; finished, so it can run again.
    const list = await http(base, "GET", `/api/v2/analyses?video_id=${videoId}`, { bearer: alice.bearer });
    expect(list.body.items.map((a: { id: string }) => a.id)).toEqual([id]);
    expect((await cancel(alice, id)).status).toBe(409);

    // Others: 404 everywhere, nothing listed.
    expect((await get(bob, id)).status).toBe(404);
    expect((await cancel(bob, id)).status).toBe(404);
    expect((await http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: bob.bearer })).status).toBe(404);
    expect((await start(bob, videoId)).status).toBe(404);
    const bobs = await http(base, "GET", `/api/v2/analyses?video_id=${videoId}`, { bearer: bob.bearer });
    expect(bobs.body.items).toEqual([]);
    expect((await get(alice, "00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await cancel(alice, "00000000-0000-4000-8000-000000000000")).status).toBe(404);
  }, 90_000);

  it("cancels a waiting job, and an active one while ffmpeg runs: process gone, nothing left, never retried", async () => {
    const [first, second] = await Promise.all([upload(carol, true), upload(carol, true)]);
    const active = await start(carol, first);
    expect(active.status).toBe(202);
    const activeId: string = active.body.id;
    // The worker runs one job at a time: the second waits.
    const { value: running } = await poll(
      () => ffmpegPidsOf(activeId),
      (pids) => pids.length > 0,
      {
        timeoutMs: 30_000,
        intervalMs: 50,
      },
    );
    expect(running.length).toBeGreaterThan(0);
    const waiting = await start(carol, second);
    expect(waiting.status).toBe(202);

    const w = await cancel(carol, waiting.body.id);
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.body).toEqual({ id: waiting.body.id, state: "cancelled", previousState: "waiting" });

    const a = await cancel(carol, activeId);
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body).toEqual({ id: activeId, state: "cancelled", previousState: "active" });
    const { value: left, elapsedMs } = await poll(
      () => ffmpegPidsOf(activeId),
      (pids) => pids.length === 0,
      {
        timeoutMs: 1_000,
        intervalMs: 20,
      },
    );
    expect(left).toEqual([]);
    expect(elapsedMs).toBeLessThan(1_000);
    for (const pid of running) expect(() => process.kill(pid, 0)).toThrow();

    const { value: dir } = await poll(
      () => readdirSync(jobsTmp),
      (d) => d.length === 0,
      { timeoutMs: 2_000 },
    );
    expect(dir).toEqual([]);
    const pictures = await http(base, "GET", `/api/v2/users/${carol.id}/pictures`, { bearer: carol.bearer });
    expect(pictures.body.items).toEqual([]);

    // Never retried, even after the backoff has long passed; a cancelled one cannot be cancelled again.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const id of [activeId, waiting.body.id]) {
      const after = await get(carol, id);
      expect(after.body.state).toBe("cancelled");
      expect(after.body.keyframeIds).toEqual([]);
      expect(after.body.attempts).toBeLessThanOrEqual(1);
      expect((await cancel(carol, id)).status).toBe(409);
    }
    expect(ffmpegPidsOf(activeId)).toEqual([]);

    // Finished: the video can be analysed again.
    const rerun = await start(carol, first, { keyframe_interval: 10, num_questions: 2 });
    expect(rerun.status).toBe(202);
    const { value: done } = await untilState(carol, rerun.body.id, (s) => s === "completed" || s === "failed");
    expect(done.body.state, JSON.stringify(done.body)).toBe("completed");
    expect(done.body.questionCount).toBe(2);
  }, 120_000);
});

describe("analysis job reliability", () => {
  let serial = 0;
  /** Replaces the running analysis instance(s) with one configured by `extra`. */
  async function analysisWith(extra: Record<string, string>): Promise<ServiceProcess> {
    for (const p of platform.procs.filter((p) => p.name === "analysis")) await p.stop();
    const proc = await startService(
      "analysis",
      platform.env("analysis", { ...extra, INSTANCE_ID: `analysis-${platform.suffix}-r${serial++}` }),
    );
    platform.procs.push(proc);
    return proc;
  }
  const running = (id: string) =>
    poll(
      () => ffmpegPidsOf(id),
      (pids) => pids.length > 0,
      { timeoutMs: 30_000, intervalMs: 50 },
    );

  it("fails a job past its deadline with deadline_exceeded, its ffmpeg killed, and never retries it", async () => {
    await analysisWith({ JOB_TIMEOUT_MS: "3000" });
    const videoId = await upload(alice, true);
    const started = await start(alice, videoId);
    expect(started.status).toBe(202);
    const id: string = started.body.id;
    const { value } = await untilState(alice, id, (s) => s === "failed" || s === "completed", 20_000);
    expect(value.body.state, JSON.stringify(value.body)).toBe("failed");
    expect(value.body.error.code).toBe("deadline_exceeded");
    expect(ffmpegPidsOf(id)).toEqual([]);
    expect(readdirSync(jobsTmp)).toEqual([]);
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await get(alice, id);
    expect(after.body).toMatchObject({ state: "failed", attempts: 1, keyframeIds: [] });
  }, 60_000);

  it("retries a transient failure (media down mid-job) with backoff, and completes once media is back", async () => {
    await analysisWith({ JOB_ATTEMPTS: "6", JOB_BACKOFF_MS: "1500" });
    const videoId = await upload(alice, true);
    const started = await start(alice, videoId, { keyframe_interval: 5, num_questions: 3 });
    const id: string = started.body.id;
    await running(id);
    const media = platform.procs.find((p) => p.name === "media") as ServiceProcess;
    await media.stop();
    platform.procs.splice(platform.procs.indexOf(media), 1);
    const { value: retrying } = await poll(
      () => get(alice, id),
      (r) => r.body.error?.code === "unavailable",
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(retrying.body.state).not.toBe("failed");
    platform.procs.push(await startService("media", platform.env("media")));
    const { value } = await untilState(alice, id, (s) => s === "completed" || s === "failed", 60_000);
    expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
    expect(value.body.attempts).toBeGreaterThan(1);
    expect(value.body.keyframeIds).toHaveLength(VIDEO_SECONDS / 5);
    expect(value.body.error).toBeUndefined();
  }, 120_000);

  it("hands a running job back on SIGTERM: another instance finishes it", async () => {
    const first = await analysisWith({});
    const videoId = await upload(alice, true);
    const started = await start(alice, videoId, { keyframe_interval: 5, num_questions: 3 });
    const id: string = started.body.id;
    const { value: pids } = await running(id);
    expect(await first.stop()).toBe(143); // 128 + SIGTERM, after a graceful shutdown
    expect(first.output()).toContain("analysis handed back at shutdown");
    platform.procs.splice(platform.procs.indexOf(first), 1);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(readdirSync(jobsTmp)).toEqual([]);

    const second = await startService(
      "analysis",
      platform.env("analysis", { INSTANCE_ID: `analysis-${platform.suffix}-second` }),
    );
    platform.procs.push(second);
    const { value } = await untilState(alice, id, (s) => s === "completed" || s === "failed", 60_000);
    expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
    expect(value.body.questionCount).toBe(3);
    expect(value.body.attempts).toBe(2);
    expect(readdirSync(jobsTmp)).toEqual([]);
  }, 120_000);

  it("cancels active jobs on two instances side by side, whichever instance gets the request", async () => {
    const instances = [
      await analysisWith({}),
      await startService("analysis", platform.env("analysis", { INSTANCE_ID: `analysis-${platform.suffix}-pair` })),
    ];
    platform.procs.push(instances[1] as ServiceProcess);
    const videos = await Promise.all([upload(alice, true), upload(alice, true)]);
    const ids: string[] = [];
    for (const v of videos) ids.push((await start(alice, v)).body.id);
    // One job per instance (each runs one at a time), both with ffmpeg running.
    for (const id of ids) await running(id);
    const holderOf = (id: string) =>
      instances.findIndex((p) => p.logs.some((l) => l.msg === "ffmpeg started" && l.analysisId === id));
    // The "ffmpeg started" log line may reach this process a moment after ffmpeg shows in /proc.
    const holders = await poll(
      () => ids.map(holderOf),
      (h) => !h.includes(-1),
      { timeoutMs: 5_000 },
    );
    expect([...holders.value].sort()).toEqual([0, 1]);

    const results = await Promise.all(ids.map((id) => cancel(alice, id)));
    for (const [i, res] of results.entries()) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: ids[i], state: "cancelled", previousState: "active" });
    }
    for (const id of ids) {
      const { value } = await poll(
        () => ffmpegPidsOf(id),
        (pids) => pids.length === 0,
        { timeoutMs: 1_000 },
      );
      expect(value).toEqual([]);
      // The holder cancelled it, whoever answered the request.
      const holder = instances[holderOf(id)] as ServiceProcess;
      expect(holder.logs.some((l) => l.msg === "cancelling a job this instance holds" && l.analysisId === id)).toBe(
        true,
      );
    }
    expect(readdirSync(jobsTmp)).toEqual([]);
  }, 120_000);

  it("finishes the job of a worker killed with SIGKILL mid-job on the other instance (stalled-job recovery)", async () => {
    const quick = { JOB_LOCK_MS: "3000", JOB_STALLED_INTERVAL_MS: "1000" };
    const instances = [
      await analysisWith(quick),
      await startService(
        "analysis",
        platform.env("analysis", { ...quick, INSTANCE_ID: `analysis-${platform.suffix}-survivor` }),
      ),
    ];
    platform.procs.push(instances[1] as ServiceProcess);
    const videoId = await upload(alice, true);
    const id: string = (await start(alice, videoId, { keyframe_interval: 5, num_questions: 3 })).body.id;
    const { value: pids } = await running(id);
    // The holder's "ffmpeg started" line can reach us a moment after its ffmpeg shows in /proc
    // (the log is piped; under load the pipe lags): wait for it rather than read it once.
    const { value: holder } = await poll(
      () => instances.find((p) => p.logs.some((l) => l.msg === "ffmpeg started" && l.analysisId === id)),
      (found) => found !== undefined,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(holder).toBeDefined();
    expect(await (holder as ServiceProcess).stop("SIGKILL")).toBe(137);
    platform.procs.splice(platform.procs.indexOf(holder as ServiceProcess), 1);
    // Its ffmpeg (its own process group) is orphaned: not this test's subject.
    for (const pid of pids) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    const { value } = await untilState(alice, id, (s) => s === "completed" || s === "failed", 60_000);
    expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
    expect(value.body.attempts).toBe(2);
    expect(value.body.keyframeIds).toHaveLength(VIDEO_SECONDS / 5);
    const survivor = instances.find((p) => p !== holder) as ServiceProcess;
    expect(survivor.logs.some((l) => l.msg === "analysis completed" && l.analysisId === id)).toBe(true);
  }, 120_000);
});
