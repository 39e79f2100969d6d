/**
 * Learners answering an analysis's questions, through the real gateway, auth, media and analysis
 * processes on real NATS, Redis, the MongoDB-protocol server and ffmpeg: a video made by ffmpeg
 * with a WebVTT transcript is analysed, then its questions are answered. Grading (right, wrong,
 * first answer counts), the correct answer hidden from learners before they answer and shown to
 * the owner, a learner's own results and score, the per-question correct rate in the linked
 * tracked video's engagement, the quiz and its video for learners (Range, and media's own check of
 * the learner), the permission table (owner / admin / learner on a private, shared and tracked
 * analysis), and bad input (400, nothing stored) / unknown question (404).
 */

import { connect } from "@nats-io/transport-node";
import { mediaCatalog, type Question, TrellisError } from "@trellis/contracts";
import { requestStream } from "@trellis/runtime";
import { poll } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factsVtt, uploadVideo } from "./support/analysis.ts";
import {
  type Account,
  http,
  loginAdmin,
  monitorStraightInAuth,
  type Platform,
  registerUser,
  startPlatform,
} from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const VIDEO_SECONDS = 20;

const stack = useFileStack();
let platform: Platform;
let base: string;
let mongo: MongoClient;
let owner: Account;
let learner: Account;
let other: Account;
let admin: Account;
/** Whoever calls the API: a user, or a monitor by its v1 token as a bearer. */
type Caller = Pick<Account, "id" | "bearer">;
/** A monitor of the owner, with its v1 token as bearer. */
let monitor: Caller;
let analysisId: string;
let questions: Question[];
let video: Buffer;
let videoId: string;

const answer = (who: Caller | null, questionId: string, json: unknown) =>
  http(base, "POST", `/api/v2/questions/${questionId}/answers`, { json, ...(who ? { bearer: who.bearer } : {}) });
const questionsAs = (who: Caller, id = analysisId) =>
  http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: who.bearer });
const myAnswers = (who: Caller, id = analysisId) =>
  http(base, "GET", `/api/v2/analyses/${id}/my-answers`, { bearer: who.bearer });
const patch = (who: Caller, json: unknown, id = analysisId) =>
  http(base, "PATCH", `/api/v2/analyses/${id}`, { json, bearer: who.bearer });
const engagement = (url: string) =>
  http(base, "GET", `/api/v2/tracked-videos?url=${encodeURIComponent(url)}`, { bearer: learner.bearer });
const quizAs = (who: Caller, id = analysisId) =>
  http(base, "GET", `/api/v2/analyses/${id}/quiz`, { bearer: who.bearer });
const quizVideo = (who: Caller, headers: Record<string, string> = {}, method = "GET", id = analysisId) =>
  fetch(`${base}/api/v2/analyses/${id}/video`, {
    method,
    headers: { authorization: `Bearer ${who.bearer}`, ...headers },
  });
const answersStored = () => mongo.db(platform.dbName("analysis")).collection("answers").countDocuments({ analysisId });

/** A wrong answer the grader accepts as an answer: another option, or any other text for a cloze question. */
const wrongAnswerTo = (q: Question) =>
  q.kind === "multiple_choice" ? (q.options.find((o) => o !== q.answer) as string) : `not ${q.answer}`;
/** The right answer written differently: other case, extra spaces, a full stop. */
const rightAnswerTo = (q: Question) => `  ${q.answer.toUpperCase()}. `;

beforeAll(async () => {
  video = testVideo({ seconds: VIDEO_SECONDS, pattern: "testsrc2", audio: true });
  platform = await startPlatform({ stack, services: ["auth", "media", "analysis"] });
  base = platform.base;
  mongo = await MongoClient.connect(stack.mongoUrl);
  [owner, learner, other] = await Promise.all([
    registerUser(base, platform.suffix, "owner"),
    registerUser(base, platform.suffix, "learner"),
    registerUser(base, platform.suffix, "other"),
  ]);
  admin = await loginAdmin(base);
  const nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  const m = await monitorStraightInAuth(nc, base, admin.id, owner.id);
  monitor = { id: m.id, bearer: m.token };
  await nc.close();

  videoId = await uploadVideo(base, owner, video, factsVtt(2));
  const started = await http(base, "POST", "/api/v2/analyses", {
    bearer: owner.bearer,
    json: { video_id: videoId, title: "Hydroponics", num_questions: 6, keyframe_interval: 10 },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  analysisId = started.body.id;
  const { value } = await poll(
    () => http(base, "GET", `/api/v2/analyses/${analysisId}`, { bearer: owner.bearer }),
    (r) => r.status === 200 && ["completed", "failed", "cancelled"].includes(r.body.state),
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
  expect(value.body).toMatchObject({ shared: false, trackedUrl: null });
  const q = await questionsAs(owner);
  expect(q.status).toBe(200);
  questions = q.body.items;
  expect(questions.length).toBeGreaterThanOrEqual(5);
}, 150_000);

afterAll(async () => {
  await mongo?.close();
  await platform?.stop();
});

describe("questions before answering", () => {
  it("the owner and admins see answers; a learner gets 404 until the owner shares, then questions without answers", async () => {
    const ownerView = await questionsAs(owner);
    expect(ownerView.body.answersHidden).toBe(false);
    for (const q of ownerView.body.items) {
      expect(typeof q.answer).toBe("string");
      expect(typeof q.explanation).toBe("string");
    }
    const adminView = await questionsAs(admin);
    expect(adminView.status).toBe(200);
    expect(adminView.body.items.map((q: Question) => q.answer)).toEqual(questions.map((q) => q.answer));

    expect((await questionsAs(learner)).status).toBe(404);
    expect((await answer(learner, questions[0]?.id as string, { answer: "x" })).status).toBe(404);

    const shared = await patch(owner, { shared: true });
    expect(shared.status, JSON.stringify(shared.body)).toBe(200);
    expect(shared.body).toMatchObject({ id: analysisId, shared: true, trackedUrl: null });

    const learnerView = await questionsAs(learner);
    expect(learnerView.status).toBe(200);
    expect(learnerView.body.answersHidden).toBe(true);
    expect(learnerView.body.items.map((q: { id: string }) => q.id)).toEqual(questions.map((q) => q.id));
    for (const [i, q] of learnerView.body.items.entries()) {
      const full = questions[i] as Question;
      expect(q).not.toHaveProperty("answer");
      expect(q).not.toHaveProperty("explanation");
      expect(q.text).toBe(full.text);
      // A cloze question's only option would be its answer.
      expect(q.options).toEqual(full.kind === "cloze" ? [] : full.options);
      expect(JSON.stringify(q)).not.toContain(JSON.stringify(full.explanation));
    }
    // Exports and the analysis itself stay the owner's and admins'.
    expect(
      (await http(base, "GET", `/api/v2/analyses/${analysisId}/questions?format=csv`, { bearer: learner.bearer }))
        .status,
    ).toBe(404);
    expect((await http(base, "GET", `/api/v2/analyses/${analysisId}`, { bearer: learner.bearer })).status).toBe(404);
  });
});

describe("the quiz and its video for learners", () => {
  it("a learner of the shared analysis reads the quiz and plays its video with Range, and only through it", async () => {
    const quiz = await quizAs(learner);
    expect(quiz.status, JSON.stringify(quiz.body)).toBe(200);
    expect(quiz.body).toEqual({
      analysisId,
      title: "Hydroponics",
      videoId,
      state: "completed",
      questionCount: questions.length,
      shared: true,
      trackedUrl: null,
      owner: false,
    });
    expect((await quizAs(owner)).body.owner).toBe(true);
    expect((await quizAs(admin)).body.owner).toBe(true);

    // A seek: one range, exactly those bytes; no owner or filename headers for a learner.
    const part = await quizVideo(learner, { range: "bytes=1000-1999" });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 1000-1999/${video.length}`);
    expect(part.headers.get("accept-ranges")).toBe("bytes");
    expect(part.headers.get("x-owner-id")).toBeNull();
    expect(Buffer.from(await part.arrayBuffer()).equals(video.subarray(1000, 2000))).toBe(true);
    const whole = await quizVideo(learner);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(video)).toBe(true);
    const head = await quizVideo(learner, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(video.length));
    const etag = whole.headers.get("etag") as string;
    expect((await quizVideo(learner, { "if-none-match": etag })).status).toBe(304);
    const outside = await quizVideo(learner, { range: `bytes=${video.length + 10}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers.get("content-range")).toBe(`bytes */${video.length}`);

    // The video itself stays the owner's.
    const direct = await fetch(`${base}/api/v2/videos/${videoId}/content`, {
      headers: { authorization: `Bearer ${learner.bearer}` },
    });
    expect(direct.status).toBe(404);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect((await quizAs(learner, unknown)).status).toBe(404);
    expect((await quizVideo(learner, {}, "GET", unknown)).status).toBe(404);
    expect((await quizVideo(learner, {}, "GET", "not-a-uuid")).status).toBe(400);
  });

  it("media checks the learner itself: an analysis the learner may answer opens no other video", async () => {
    const othersVideo = await uploadVideo(base, other, testVideo({ seconds: 1 }));
    const nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    try {
      const me = await http(base, "GET", "/api/v2/me", { bearer: learner.bearer });
      const actor = {
        kind: "user" as const,
        userId: learner.id,
        username: me.body.username,
        role: "user" as const,
        sessionId: "s".repeat(16),
      };
      const read = (id: string) =>
        requestStream(nc, mediaCatalog.readVideo, { actor, videoId: id, analysisId, range: "bytes=0-9" });
      const own = await read(videoId);
      expect(own.meta.outcome).toBe("partial");
      for await (const _ of own.chunks);
      const refused = await read(othersVideo).then(
        () => null,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(TrellisError);
      expect((refused as TrellisError).code).toBe("not_found");
    } finally {
      await nc.close();
    }
  });
});

describe("answering", () => {
  it("grades on submission: wrong, then right; the first answer is the one recorded", async () => {
    const [q1, q2] = questions as [Question, Question];
    const wrong = await answer(learner, q1.id, { answer: wrongAnswerTo(q1) });
    expect(wrong.status, JSON.stringify(wrong.body)).toBe(200);
    expect(wrong.body).toMatchObject({
      questionId: q1.id,
      analysisId,
      correct: false,
      correctAnswer: q1.answer,
      explanation: q1.explanation,
      answer: wrongAnswerTo(q1),
      alreadyAnswered: false,
    });
    // Answering again (now knowing the answer) changes nothing: the first grading comes back.
    const again = await answer(learner, q1.id, { answer: q1.answer });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ correct: false, answer: wrongAnswerTo(q1), alreadyAnswered: true });
    expect(again.body.answeredAt).toBe(wrong.body.answeredAt);

    const right = await answer(learner, q2.id, { answer: rightAnswerTo(q2) });
    expect(right.status).toBe(200);
    expect(right.body).toMatchObject({ correct: true, correctAnswer: q2.answer, alreadyAnswered: false });

    // The owner answers too, for their own results.
    const own = await answer(owner, q1.id, { answer: q1.answer });
    expect(own.body).toMatchObject({ correct: true, alreadyAnswered: false });
  });

  it("a learner sees their own results and score, nobody else's", async () => {
    const [q1, q2] = questions as [Question, Question];
    const mine = await myAnswers(learner);
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect(mine.body).toMatchObject({
      analysisId,
      total: questions.length,
      answered: 2,
      correct: 1,
      score: 1 / questions.length,
    });
    expect(mine.body.items).toEqual([
      expect.objectContaining({
        questionId: q1.id,
        answer: wrongAnswerTo(q1),
        correct: false,
        correctAnswer: q1.answer,
      }),
      expect.objectContaining({ questionId: q2.id, correct: true, correctAnswer: q2.answer }),
    ]);
    for (const item of mine.body.items) expect(Date.parse(item.answeredAt)).not.toBeNaN();

    const others = await myAnswers(other);
    expect(others.status).toBe(200);
    expect(others.body).toMatchObject({ answered: 0, correct: 0, score: 0, items: [] });
    const owners = await myAnswers(owner);
    expect(owners.body).toMatchObject({ answered: 1, correct: 1 });
  });

  it("bad input is a 400 and stores nothing; an unknown question is a 404", async () => {
    const q = questions[0] as Question;
    const before = await answersStored();
    for (const json of [
      {},
      { answer: "" },
      { answer: "   " },
      { answer: 5 },
      { answer: null },
      { answer: "x".repeat(501) },
      [],
    ]) {
      const res = await answer(learner, q.id, json);
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.body.error.code).toBe("invalid_argument");
    }
    const notJson = await fetch(`${base}/api/v2/questions/${q.id}/answers`, {
      method: "POST",
      headers: { authorization: `Bearer ${learner.bearer}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(notJson.status).toBe(400);
    expect((await answer(learner, "not-a-uuid", { answer: "x" })).status).toBe(400);
    const mc = questions.find((x) => x.kind === "multiple_choice" && x.id !== q.id);
    if (mc) {
      const outside = await answer(other, mc.id, { answer: "certainly not an option" });
      expect(outside.status).toBe(400);
      expect(outside.body.error.message).toBe("answer must be one of the question's options");
    }
    const unknown = await answer(learner, "00000000-0000-4000-8000-000000000000", { answer: "x" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toBe("no such question");
    expect((await myAnswers(learner, "00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await answer(null, q.id, { answer: "x" })).status).toBe(401);
    expect(await answersStored()).toBe(before);
    // What was stored is intact.
    expect((await myAnswers(learner)).body).toMatchObject({ answered: 2, correct: 1 });
  });
});

describe("engagement of the linked tracked video", () => {
  it("counts each first answer: answers submitted, correct rate overall and per question", async () => {
    const url = `https://cdn.example.com/${platform.suffix}/hydroponics.mp4`;
    expect((await http(base, "POST", "/api/v2/tracked-videos", { bearer: learner.bearer, json: { url } })).status).toBe(
      201,
    );
    // Only a tracked URL can be linked; nonsense is a 400.
    expect((await patch(owner, { tracked_url: "https://cdn.example.com/untracked.mp4" })).status).toBe(400);
    expect((await patch(owner, { tracked_url: "ftp://x/y" })).status).toBe(400);
    expect((await patch(owner, {})).status).toBe(400);
    expect((await patch(owner, { shared: "yes" })).status).toBe(400);
    expect((await patch(owner, { shared: true, owner_id: learner.id })).status).toBe(400);

    // Linked and no longer shared: a tracked video's analysis is answerable by any signed-in user.
    const linked = await patch(owner, { tracked_url: `${url}#t=3`, shared: false });
    expect(linked.status, JSON.stringify(linked.body)).toBe(200);
    expect(linked.body).toMatchObject({ shared: false, trackedUrl: url });

    const [, , q3, q4] = questions as [Question, Question, Question, Question];
    expect((await answer(other, q3.id, { answer: rightAnswerTo(q3) })).body.correct).toBe(true);
    expect((await answer(learner, q3.id, { answer: wrongAnswerTo(q3) })).body.correct).toBe(false);
    expect((await answer(other, q4.id, { answer: q4.answer })).body.correct).toBe(true);
    // Not counted again: a repeat, and an answer given before the link.
    expect((await answer(other, q3.id, { answer: wrongAnswerTo(q3) })).body.alreadyAnswered).toBe(true);
    const q1 = questions[0] as Question;
    expect((await answer(learner, q1.id, { answer: q1.answer })).body.alreadyAnswered).toBe(true);
    expect(
      (await http(base, "POST", "/api/v2/tracked-videos/views", { bearer: other.bearer, json: { url } })).body.views,
    ).toBe(1);

    const e = await engagement(url);
    expect(e.status).toBe(200);
    expect(e.body).toMatchObject({ url, views: 1, answersSubmitted: 3, correctRate: 2 / 3 });
    const perQuestion = Object.fromEntries(
      e.body.perQuestion.map((p: { questionId: string; answers: number; correctRate: number }) => [p.questionId, p]),
    );
    expect(perQuestion).toEqual({
      [q3.id]: { questionId: q3.id, answers: 2, correctRate: 0.5 },
      [q4.id]: { questionId: q4.id, answers: 1, correctRate: 1 },
    });
  });

  it("the same answer submitted many times at once is recorded and counted once", async () => {
    const url = `https://cdn.example.com/${platform.suffix}/hydroponics.mp4`;
    const q5 = questions[4] as Question;
    const racer = await registerUser(base, platform.suffix, "racer");
    const replies = await Promise.all(Array.from({ length: 8 }, () => answer(racer, q5.id, { answer: q5.answer })));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(replies.filter((r) => r.body.alreadyAnswered === false)).toHaveLength(1);
    const e = await engagement(url);
    expect(e.body.answersSubmitted).toBe(4);
    expect(e.body.perQuestion.find((p: { questionId: string }) => p.questionId === q5.id)).toEqual({
      questionId: q5.id,
      answers: 1,
      correctRate: 1,
    });
    expect((await myAnswers(racer)).body).toMatchObject({ answered: 1, correct: 1 });
  });
});

describe("permissions", () => {
  it("owner / admin / learner on a private, shared and tracked analysis", async () => {
    // Back to private first.
    expect((await patch(owner, { shared: false, tracked_url: null })).body).toMatchObject({
      shared: false,
      trackedUrl: null,
    });
    const q = questions[5] ?? (questions[4] as Question);
    type Row = [string, Caller, number, number, number, number, number];
    const table = (phase: string): Row[] => {
      const readable = phase !== "private";
      const r = readable ? 200 : 404;
      return [
        // who, questions, answer, my-answers, PATCH, quiz and its video
        ["owner", owner, 200, 200, 200, 200, 200],
        ["admin", admin, 200, 200, 200, 200, 200],
        ["learner", learner, r, r, r, readable ? 403 : 404, r],
        // The owner's own monitor is not a user: a monitor token may never use these routes (403).
        ["monitor", monitor, 403, 403, 403, 403, 403],
      ];
    };
    for (const [phase, change] of [
      ["private", null],
      ["shared", { shared: true }],
      ["tracked", { shared: false, tracked_url: `https://cdn.example.com/${platform.suffix}/hydroponics.mp4` }],
    ] as const) {
      if (change) expect((await patch(owner, change)).status).toBe(200);
      for (const [who, account, questionsStatus, answerStatus, mineStatus, patchStatus, quizStatus] of table(phase)) {
        const label = `${who} on a ${phase} analysis`;
        expect((await questionsAs(account)).status, label).toBe(questionsStatus);
        expect((await answer(account, q.id, { answer: wrongAnswerTo(q) })).status, label).toBe(answerStatus);
        expect((await myAnswers(account)).status, label).toBe(mineStatus);
        // A no-op change, so the phase stays.
        const current = (await http(base, "GET", `/api/v2/analyses/${analysisId}`, { bearer: owner.bearer })).body;
        expect((await patch(account, { shared: current.shared })).status, label).toBe(patchStatus);
        expect((await quizAs(account)).status, label).toBe(quizStatus);
        const bytes = await quizVideo(account, { range: "bytes=0-99" });
        expect(bytes.status, label).toBe(quizStatus === 200 ? 206 : quizStatus);
        await bytes.arrayBuffer();
      }
    }
    // Someone else's analysis id that does not exist: 404 for everyone, PATCH included.
    expect((await patch(admin, { shared: true }, "00000000-0000-4000-8000-000000000000")).status).toBe(404);
  });
});
