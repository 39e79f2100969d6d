/**
 * Deleting a video or a user removes its analyses, through the real gateway, auth, media and
 * analysis processes on real NATS (JetStream: media's `video_deleted` and auth's `user_deleted`
 * events, durable consumers), Redis (BullMQ), the MongoDB-protocol server and ffmpeg: the analyses,
 * their questions, learners' answers and keyframes (media pictures: GET → 404) are gone; a job
 * running ffmpeg is cancelled (its process gone, no temp file, no keyframe, never retried) and a
 * waiting one removed from the queue; events published while analysis is down are handled when it
 * comes back.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { analysisEvents } from "@trellis/contracts";
import { poll, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factsVtt, ffmpegPidsOf, uploadVideo } from "./support/analysis.ts";
import { type Account, http, loginAdmin, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

/** ffmpeg reads at this multiple of real time: a long video's extraction runs long enough to delete it mid-run. */
const READ_RATE = 2;
const SHORT_SECONDS = 10;
const LONG_SECONDS = 60;
/** One fact a second: inside the short video (and the long one). */
const vtt = factsVtt(1);

const stack = useFileStack();
let platform: Platform;
let base: string;
let nc: NatsConnection;
let mongo: MongoClient;
let db: Db;
let redis: Redis;
let queue: Queue;
let workDir: string;
let jobsTmp: string;
let shortVideo: Buffer;
let longVideo: Buffer;
let admin: Account;
let alice: Account;
let bob: Account;
/** Alice's shared analysis that every test leaves alone. */
let keep: { id: string; questions: { id: string; answer: string }[] };

const NO_ID = "00000000-0000-4000-8000-000000000000";

const upload = (who: Account, body: Buffer): Promise<string> => uploadVideo(base, who, body, vtt);

const start = async (who: Account, videoId: string): Promise<string> => {
  const res = await http(base, "POST", "/api/v2/analyses", {
    bearer: who.bearer,
    json: { video_id: videoId, title: "Cascade", num_questions: 3, keyframe_interval: 2 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id;
};

/** Starts an analysis and waits for it to complete: its id, keyframes and question ids. */
async function analysed(who: Account, videoId: string) {
  const id = await start(who, videoId);
  const { value } = await poll(
    () => http(base, "GET", `/api/v2/analyses/${id}`, { bearer: who.bearer }),
    (r) => r.status === 200 && ["completed", "failed", "cancelled"].includes(r.body.state),
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
  expect(value.body.keyframeIds.length).toBeGreaterThan(0);
  const q = await http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: who.bearer });
  expect(q.body.items.length).toBeGreaterThan(0);
  return {
    id,
    keyframeIds: value.body.keyframeIds as string[],
    questions: q.body.items as { id: string; answer: string }[],
  };
}

/** What is left of an analysis in the analysis service's database. */
const leftOf = async (analysisId: string) => ({
  analyses: await db.collection("analyses").countDocuments({ _id: analysisId as never }),
  questions: await db.collection("questions").countDocuments({ analysisId }),
  answers: await db.collection("answers").countDocuments({ analysisId }),
});
const gone = (analysisId: string, timeoutMs = 30_000) =>
  poll(
    () => leftOf(analysisId),
    (left) => left.analyses === 0 && left.questions === 0 && left.answers === 0,
    { timeoutMs, intervalMs: 100 },
  );
const pictureStatus = async (pictureId: string) =>
  (await http(base, "GET", `/api/v2/pictures/${pictureId}`, { bearer: admin.bearer })).status;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "trellis-cascade-test-"));
  jobsTmp = join(workDir, "jobs");
  mkdirSync(jobsTmp);
  shortVideo = testVideo({ seconds: SHORT_SECONDS, pattern: "testsrc2", audio: true });
  longVideo = testVideo({ seconds: LONG_SECONDS, pattern: "testsrc2", audio: true });
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis"],
    extraEnv: { FFMPEG_READ_RATE: String(READ_RATE), ANALYSIS_TMP_DIR: jobsTmp, WORKER_CONCURRENCY: "1" },
  });
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  mongo = await MongoClient.connect(stack.mongoUrl);
  db = mongo.db(platform.dbName("analysis"));
  redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue("{analysis}", { connection: redis, prefix: `t:${platform.suffix}:analysis` });
  [alice, bob] = await Promise.all([
    registerUser(base, platform.suffix, "alice"),
    registerUser(base, platform.suffix, "bob"),
  ]);
  admin = await loginAdmin(base);
  const kept = await analysed(alice, await upload(alice, shortVideo));
  expect(
    (await http(base, "PATCH", `/api/v2/analyses/${kept.id}`, { bearer: alice.bearer, json: { shared: true } })).status,
  ).toBe(200);
  keep = { id: kept.id, questions: kept.questions };
}, 180_000);

afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await nc?.close();
  await mongo?.close();
  await platform?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("deleting a video", () => {
  it("removes its analyses, questions, learners' answers and keyframes", async () => {
    const videoId = await upload(alice, shortVideo);
    const a = await analysed(alice, videoId);
    await http(base, "PATCH", `/api/v2/analyses/${a.id}`, { bearer: alice.bearer, json: { shared: true } });
    const q = a.questions[0] as { id: string; answer: string };
    expect(
      (
        await http(base, "POST", `/api/v2/questions/${q.id}/answers`, {
          bearer: bob.bearer,
          json: { answer: q.answer },
        })
      ).status,
    ).toBe(200);
    expect(await leftOf(a.id)).toEqual({ analyses: 1, questions: a.questions.length, answers: 1 });
    for (const pictureId of a.keyframeIds) expect(await pictureStatus(pictureId)).toBe(200);

    expect((await http(base, "DELETE", `/api/v2/videos/${videoId}`, { bearer: alice.bearer })).status).toBe(204);
    await gone(a.id);
    expect((await http(base, "GET", `/api/v2/analyses/${a.id}`, { bearer: alice.bearer })).status).toBe(404);
    expect((await http(base, "GET", `/api/v2/analyses/${a.id}/questions`, { bearer: admin.bearer })).status).toBe(404);
    expect(
      (
        await http(base, "POST", `/api/v2/questions/${q.id}/answers`, {
          bearer: bob.bearer,
          json: { answer: q.answer },
        })
      ).status,
    ).toBe(404);
    for (const pictureId of a.keyframeIds) expect(await pictureStatus(pictureId)).toBe(404);
    // Another analysis of the same owner is untouched.
    expect((await leftOf(keep.id)).analyses).toBe(1);
  }, 120_000);
});

describe("deleting a user", () => {
  it("removes their analyses (keyframes, questions) and their answers to others' questions", async () => {
    const dave = await registerUser(base, platform.suffix, "dave");
    const a = await analysed(dave, await upload(dave, shortVideo));
    const kq = keep.questions[0] as { id: string; answer: string };
    for (const who of [dave, bob]) {
      const res = await http(base, "POST", `/api/v2/questions/${kq.id}/answers`, {
        bearer: who.bearer,
        json: { answer: kq.answer },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    const answersOf = (userId: string) => db.collection("answers").countDocuments({ userId });
    expect(await answersOf(dave.id)).toBe(1);
    const bobBefore = await answersOf(bob.id);
    expect(bobBefore).toBeGreaterThan(0);

    expect((await http(base, "DELETE", `/api/v2/users/${dave.id}`, { bearer: admin.bearer })).status).toBe(204);
    await gone(a.id);
    await poll(
      () => answersOf(dave.id),
      (n) => n === 0,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    for (const pictureId of a.keyframeIds) expect(await pictureStatus(pictureId)).toBe(404);
    // Other people's analyses and answers stay.
    expect(await answersOf(bob.id)).toBe(bobBefore);
    expect((await leftOf(keep.id)).questions).toBe(keep.questions.length);
  }, 120_000);
});

describe("deleting a video while its analysis runs", () => {
  it("cancels the active job (ffmpeg gone, nothing left, not retried) and removes a waiting one from the queue", async () => {
    const carol = await registerUser(base, platform.suffix, "carol");
    const [longId, shortId] = await Promise.all([upload(carol, longVideo), upload(carol, shortVideo)]);
    const cancelled: string[] = [];
    const sub = nc.subscribe(analysisEvents.cancelled.subject);
    void (async () => {
      for await (const m of sub) cancelled.push(m.json<{ analysisId: string }>().analysisId);
    })();

    const active = await start(carol, longId);
    const { value: pids } = await poll(
      () => ffmpegPidsOf(active),
      (p) => p.length > 0,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    // One job at a time per worker: this one waits.
    const waiting = await start(carol, shortId);
    expect((await http(base, "GET", `/api/v2/analyses/${waiting}`, { bearer: carol.bearer })).body.state).toBe(
      "waiting",
    );
    expect(await queue.getJob(waiting)).toBeDefined();

    expect((await http(base, "DELETE", `/api/v2/videos/${shortId}`, { bearer: carol.bearer })).status).toBe(204);
    await gone(waiting);
    expect(await queue.getJob(waiting)).toBeUndefined();
    expect(ffmpegPidsOf(active)).toEqual(pids); // the active one goes on meanwhile

    expect((await http(base, "DELETE", `/api/v2/videos/${longId}`, { bearer: carol.bearer })).status).toBe(204);
    await gone(active);
    await poll(
      () => ffmpegPidsOf(active),
      (p) => p.length === 0,
      { timeoutMs: 1_000, intervalMs: 20 },
    );
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(cancelled).toEqual(expect.arrayContaining([waiting, active]));
    expect(await queue.getJob(active)).toBeUndefined();
    expect(readdirSync(jobsTmp)).toEqual([]);
    // No keyframe was kept, and the job is never retried.
    const pictures = await http(base, "GET", `/api/v2/users/${carol.id}/pictures`, { bearer: carol.bearer });
    expect(pictures.body.items).toEqual([]);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(ffmpegPidsOf(active)).toEqual([]);
    expect(await leftOf(active)).toEqual({ analyses: 0, questions: 0, answers: 0 });
    sub.unsubscribe();
  }, 120_000);
});

describe("durable: events published while analysis is down", () => {
  it("are handled when it comes back", async () => {
    const erin = await registerUser(base, platform.suffix, "erin");
    const fay = await registerUser(base, platform.suffix, "fay");
    const erinVideo = await upload(erin, shortVideo);
    const [ofVideo, ofUser] = [await analysed(erin, erinVideo), await analysed(fay, await upload(fay, shortVideo))];

    const running = platform.procs.filter((p) => p.name === "analysis");
    for (const p of running) {
      await p.stop();
      platform.procs.splice(platform.procs.indexOf(p), 1);
    }
    expect((await http(base, "DELETE", `/api/v2/videos/${erinVideo}`, { bearer: erin.bearer })).status).toBe(204);
    expect((await http(base, "DELETE", `/api/v2/users/${fay.id}`, { bearer: fay.bearer })).status).toBe(204);
    await new Promise((r) => setTimeout(r, 500));
    expect((await leftOf(ofVideo.id)).analyses).toBe(1); // nobody handled it yet
    expect((await leftOf(ofUser.id)).analyses).toBe(1);

    platform.procs.push(
      await startService("analysis", platform.env("analysis", { INSTANCE_ID: `analysis-${platform.suffix}-back` })),
    );
    await gone(ofVideo.id);
    await gone(ofUser.id);
    for (const pictureId of [...ofVideo.keyframeIds, ...ofUser.keyframeIds])
      expect(await pictureStatus(pictureId)).toBe(404);
    // Unknown ids are still a 404 after the restart.
    expect((await http(base, "GET", `/api/v2/analyses/${NO_ID}`, { bearer: admin.bearer })).status).toBe(404);
  }, 150_000);
});
