/**
 * Tracked videos and engagement (seed 001 `add_URL` / `get_URL`) through the real gateway, auth
 * and two analysis instances: canonical YouTube keys, 400 on a duplicate, 404 on an unknown URL,
 * 400 (never 500) on bad input, permissions (users yes, monitors 403, no token 401), views and
 * answers counted exactly under concurrency across both instances, and `recordAnswer` both over
 * NATS and as the in-process function the answers pipeline calls.
 */
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { analysisCatalog, type Principal, TrellisError } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordAnswer } from "../services/analysis/src/tracked/handlers.ts";
import { TrackedVideosStore } from "../services/analysis/src/tracked/store.ts";
import { ADMIN, http, loginBoth, monitorStraightInAuth, type Platform, startPlatform } from "./support/platform.ts";

const stack = useFileStack();
let platform: Platform;
let base: string;
let nc: NatsConnection;
let mongo: MongoClient;
let learner: { id: string; username: string; bearer: string };
let monitorToken: string;

const youtubeId = () =>
  randomBytes(8)
    .toString("base64url")
    .replace(/[^A-Za-z0-9_-]/g, "a")
    .slice(0, 11);
const watch = (id: string) => `https://www.youtube.com/watch?v=${id}`;

const track = (json: unknown, bearer = learner.bearer) =>
  http(base, "POST", "/api/v2/tracked-videos", { json, bearer });
const engagement = (url: string, bearer = learner.bearer) =>
  http(base, "GET", `/api/v2/tracked-videos?url=${encodeURIComponent(url)}`, { bearer });
const view = (url: string, bearer = learner.bearer) =>
  http(base, "POST", "/api/v2/tracked-videos/views", { json: { url }, bearer });

const learnerActor = (): Principal => ({
  kind: "user",
  userId: learner.id,
  username: learner.username,
  role: "user",
  sessionId: "test-session-0000",
});

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth", "analysis"] });
  // A second analysis instance: both answer from the same queue group and count into one store.
  platform.procs.push(
    await startService("analysis", platform.env("analysis", { INSTANCE_ID: `analysis-${platform.suffix}-2` })),
  );
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  mongo = await MongoClient.connect(stack.mongoUrl);
  const admin = await loginBoth(base, ADMIN.username, ADMIN.password);
  const adminId = (await http(base, "GET", "/api/v2/me", { bearer: admin.bearer })).body.userId;
  const username = `learner-${platform.suffix}`;
  const password = `Pw-${randomBytes(6).toString("hex")}`;
  const reg = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  learner = { id: reg.body.id, username, bearer: (await loginBoth(base, username, password)).bearer };
  monitorToken = (await monitorStraightInAuth(nc, base, adminId, learner.id)).token;
});

afterAll(async () => {
  await nc?.close();
  await mongo?.close();
  await platform?.stop();
});

describe("tracking a video (seed 001 add_URL)", () => {
  it("tracks under the canonical URL; any form of the same video again is a 400", async () => {
    const id = youtubeId();
    const res = await track({ url: `https://youtu.be/${id}?t=3`, title: "Intro" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ url: watch(id), youtubeId: id, title: "Intro" });
    expect(Date.parse(res.body.trackedAt)).not.toBeNaN();
    for (const again of [watch(id), `https://www.youtube.com/shorts/${id}`, `https://www.youtube.com/embed/${id}`]) {
      const dup = await track({ url: again });
      expect(dup.status, again).toBe(400);
      expect(dup.body.error.message).toBe("URL already exists");
    }
  });

  it("a direct media URL is tracked as is, without a title", async () => {
    const url = `https://cdn.example.com/${platform.suffix}/talk.mp4`;
    const res = await track({ url: `${url}#t=5` });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ url, youtubeId: null, title: null });
  });

  it.each([
    ["a YouTube id too short", { url: "https://www.youtube.com/watch?v=tooshort" }],
    ["youtu.be without an id", { url: "https://youtu.be/" }],
    ["ftp", { url: "ftp://example.com/v.mp4" }],
    ["not a URL", { url: "not a url" }],
    ["an empty url", { url: "" }],
    ["no url", {}],
    ["a number", { url: 42 }],
    ["a URL too long", { url: `https://example.com/${"a".repeat(3_000)}` }],
    ["an empty title", { url: "https://example.com/v.mp4", title: "" }],
  ])("bad input (%s) is a 400", async (_what, json) => {
    const res = await track(json);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
  });
});

describe("engagement (seed 001 get_URL)", () => {
  it("an unknown URL is a 404; a bad one a 400", async () => {
    expect((await engagement(watch(youtubeId()))).status).toBe(404);
    expect((await engagement("javascript:alert(1)")).status).toBe(400);
    expect((await http(base, "GET", "/api/v2/tracked-videos", { bearer: learner.bearer })).status).toBe(400);
  });

  it("starts at zero, found from any form of the URL", async () => {
    const id = youtubeId();
    expect((await track({ url: watch(id), title: "Zero" })).status).toBe(201);
    const res = await engagement(`https://m.youtube.com/watch?v=${id}&feature=share`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      url: watch(id),
      title: "Zero",
      views: 0,
      answersSubmitted: 0,
      correctRate: null,
      perQuestion: [],
    });
  });

  it("counts every one of many concurrent views, across both analysis instances", async () => {
    const id = youtubeId();
    expect((await track({ url: watch(id) })).status).toBe(201);
    const views = await Promise.all(Array.from({ length: 40 }, () => view(`https://youtu.be/${id}`)));
    expect(views.map((v) => v.status)).toEqual(Array(40).fill(200));
    expect(new Set(views.map((v) => v.body.views)).size).toBe(40);
    expect((await engagement(watch(id))).body.views).toBe(40);
    expect((await view(watch(youtubeId()))).status).toBe(404);
  });

  it("counts graded answers overall and per question (recordAnswer over NATS and in-process)", async () => {
    const id = youtubeId();
    const url = watch(id);
    expect((await track({ url })).status).toBe(201);
    const actor = learnerActor();
    // Over NATS, concurrently (both instances serve): q1 3 of 4 correct, q2 1 of 4.
    const answers = [
      ...Array.from({ length: 12 }, (_, i) => ({ questionId: "q1", correct: i % 4 !== 0 })),
      ...Array.from({ length: 8 }, (_, i) => ({ questionId: "q2", correct: i % 4 === 0 })),
    ];
    await Promise.all(answers.map((a) => request(nc, analysisCatalog.recordAnswer, { actor, url, ...a })));
    // In-process, as the answers pipeline calls it, from two stores (two clients) at once.
    const other = await MongoClient.connect(stack.mongoUrl);
    try {
      const stores = [mongo, other].map((c) => new TrackedVideosStore(c.db(platform.dbName("analysis"))));
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => recordAnswer(stores[i % 2] as TrackedVideosStore, url, "q3", i < 5)),
      );
      const unknown = await recordAnswer(stores[0] as TrackedVideosStore, watch(youtubeId()), "q1", true).catch(
        (e: unknown) => e,
      );
      expect(unknown).toBeInstanceOf(TrellisError);
      expect((unknown as TrellisError).code).toBe("not_found");
      const bad = await recordAnswer(stores[0] as TrackedVideosStore, url, "a.b", true).catch((e: unknown) => e);
      expect((bad as TrellisError).code).toBe("invalid_argument");
    } finally {
      await other.close();
    }
    const res = await engagement(`https://youtu.be/${id}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      url,
      title: null,
      views: 0,
      answersSubmitted: 30,
      correctRate: (9 + 2 + 5) / 30,
      perQuestion: [
        { questionId: "q1", answers: 12, correctRate: 0.75 },
        { questionId: "q2", answers: 8, correctRate: 0.25 },
        { questionId: "q3", answers: 10, correctRate: 0.5 },
      ],
    });
  });
});

describe("permissions: any authenticated user, never a monitor", () => {
  it("a monitor gets 403 and no token 401 on every route", async () => {
    const url = watch(youtubeId());
    expect((await track({ url })).status).toBe(201);
    expect((await track({ url: watch(youtubeId()) }, monitorToken)).status).toBe(403);
    expect((await engagement(url, monitorToken)).status).toBe(403);
    expect((await view(url, monitorToken)).status).toBe(403);
    const none = await http(base, "POST", "/api/v2/tracked-videos", { json: { url } });
    expect(none.status).toBe(401);
    expect((await http(base, "GET", `/api/v2/tracked-videos?url=${encodeURIComponent(url)}`)).status).toBe(401);
    const monitorActor: Principal = {
      kind: "monitor",
      monitorId: "0".repeat(32),
      ownerId: learner.id,
      sessionId: "test-session-0000",
    };
    const refused = await request(nc, analysisCatalog.recordAnswer, {
      actor: monitorActor,
      url,
      questionId: "q1",
      correct: true,
    }).catch((e: unknown) => e);
    expect((refused as TrellisError).code).toBe("forbidden");
  });
});
