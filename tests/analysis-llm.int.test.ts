/**
 * Questions from an OpenAI-compatible model, through the real gateway, auth, media and analysis
 * processes (real Redis, NATS, the MongoDB-protocol server, ffmpeg) and the real `openai` client:
 * the model is a local node:http server speaking the chat-completions protocol, which checks each
 * request (model, key, the strict json_schema response format, the transcript) and answers as the
 * test says: valid questions (stored, `generator: "llm:<model>"`), invalid JSON, off-schema JSON,
 * a 500 or a reply slower than OPENAI_TIMEOUT_MS (each: the offline generator writes the questions,
 * the reason logged), or no reply at all while the analysis is cancelled (the request is aborted:
 * the server sees its connection close).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { poll, type ServiceProcess } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FACTS, factsVtt, uploadVideo } from "./support/analysis.ts";
import { http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const VIDEO_SECONDS = 20;
const MODEL = "test-model";
const API_KEY = "sk-test-key-never-logged-1234";
const TIMEOUT_MS = 3_000;
const NUM_QUESTIONS = 3;

const vtt = factsVtt(2);

/** What the model answers: four questions that fit the transcript and one whose time is past the video. */
const MODEL_QUESTIONS = [
  {
    text: "Who coined the word hydroponics in 1937?",
    options: ["William Gericke", "Isaac Newton", "Marie Curie", "Charles Darwin"],
    answer: "William Gericke",
    explanation: FACTS[1],
    timestampMs: 2_500,
    kind: "multiple_choice",
  },
  {
    text: "Basil needs about ___ hours of light every day to grow quickly.",
    options: ["14"],
    answer: "14",
    explanation: FACTS[4],
    timestampMs: 8_400,
    kind: "cloze",
  },
  {
    text: "Which nutrient keeps tomatoes from blossom end rot?",
    options: ["Magnesium", "Calcium", "Nitrogen", "Iron"],
    answer: "Calcium",
    explanation: FACTS[7],
    timestampMs: 14_100,
    kind: "multiple_choice",
  },
  {
    text: "Which agency studied hydroponic gardens for long missions?",
    options: ["ESA", "NASA", "JAXA", "Roscosmos"],
    answer: "NASA",
    explanation: FACTS[9],
    timestampMs: 19_000,
    kind: "multiple_choice",
  },
  {
    text: "What holds the seedlings?",
    options: ["Rockwool cubes", "Clay pebbles"],
    answer: "Rockwool cubes",
    explanation: FACTS[8],
    timestampMs: 95_000,
    kind: "multiple_choice",
  },
];

type Mode = "valid" | "not-json" | "off-schema" | "status-500" | "slow" | "hang";

interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the request body is asserted field by field
  body: any;
  /** Set when the client closed the connection before any reply was written. */
  closedEarly: boolean;
}

/** A chat-completions server: answers according to `mode`, records every request. */
class FakeModelServer {
  mode: Mode = "valid";
  readonly requests: SeenRequest[] = [];
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));
  private readonly pending = new Set<ServerResponse>();

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async close(): Promise<void> {
    for (const res of this.pending) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
    const seen: SeenRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization,
      body,
      closedEarly: false,
    };
    this.requests.push(seen);
    res.on("close", () => {
      if (!res.writableEnded) seen.closedEarly = true;
      this.pending.delete(res);
    });
    this.pending.add(res);
    const completion = (content: string) => ({
      id: `chatcmpl-${this.requests.length}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: MODEL,
      choices: [
        { index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" },
      ],
      usage: { prompt_tokens: 100, completion_tokens: 100, total_tokens: 200 },
    });
    const send = (status: number, payload: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
    };
    const valid = JSON.stringify({ questions: MODEL_QUESTIONS });
    switch (this.mode) {
      case "valid":
        return send(200, completion(valid));
      case "not-json":
        return send(200, completion("Sure! Here are three questions about hydroponics: 1. Who"));
      case "off-schema":
        return send(200, completion(JSON.stringify({ questions: [{ question: "Who?", choices: ["A", "B"] }] })));
      case "status-500":
        return send(500, { error: { message: "model crashed", type: "server_error" } });
      case "slow":
        setTimeout(() => send(200, completion(valid)), TIMEOUT_MS * 2);
        return;
      case "hang":
        return; // never answers; the client must close the connection
    }
  }
}

const stack = useFileStack();
const model = new FakeModelServer();
let platform: Platform;
let base: string;
let analysis: ServiceProcess;
let video: Buffer;
let alice: { id: string; bearer: string };

async function startAnalysis(): Promise<string> {
  const videoId = await uploadVideo(base, alice, video, vtt);
  const res = await http(base, "POST", "/api/v2/analyses", {
    bearer: alice.bearer,
    json: { video_id: videoId, title: "Hydroponics", num_questions: NUM_QUESTIONS, keyframe_interval: 10 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id;
}

async function finished(id: string) {
  const { value } = await poll(
    () => http(base, "GET", `/api/v2/analyses/${id}`, { bearer: alice.bearer }),
    (r) => r.status === 200 && ["completed", "failed", "cancelled"].includes(r.body.state),
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  return value.body;
}

const questionsOf = async (id: string) =>
  (await http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: alice.bearer })).body.items as {
    text: string;
    answer: string;
    options: string[];
    timestampMs: number;
    keyframeId: string | null;
  }[];

beforeAll(async () => {
  const baseURL = await model.listen();
  video = testVideo({ seconds: VIDEO_SECONDS, pattern: "testsrc2", audio: true });
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis"],
    extraEnv: {
      OPENAI_BASE_URL: baseURL,
      OPENAI_API_KEY: API_KEY,
      OPENAI_MODEL: MODEL,
      OPENAI_TIMEOUT_MS: String(TIMEOUT_MS),
      WORKER_CONCURRENCY: "1",
    },
  });
  base = platform.base;
  analysis = platform.procs.find((p) => p.name === "analysis") as ServiceProcess;
  alice = await registerUser(base, platform.suffix, "alice");
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  await model.close();
});

beforeEach(() => {
  model.requests.length = 0;
});

describe("questions from an OpenAI-compatible model", () => {
  it("stores the model's questions that fit the transcript, recording generator llm:<model>", async () => {
    model.mode = "valid";
    const id = await startAnalysis();
    const done = await finished(id);
    expect(done.state, JSON.stringify(done)).toBe("completed");
    expect(done.generator).toBe(`llm:${MODEL}`);

    // The request: the real protocol, the model, the key, the strict JSON-schema response format.
    expect(model.requests).toHaveLength(1);
    const [req] = model.requests;
    expect(req).toMatchObject({ method: "POST", url: "/v1/chat/completions", authorization: `Bearer ${API_KEY}` });
    expect(req?.body.model).toBe(MODEL);
    expect(req?.body.response_format).toMatchObject({
      type: "json_schema",
      json_schema: { name: "video_questions", strict: true, schema: { type: "object", required: ["questions"] } },
    });
    expect(req?.body.response_format.json_schema.schema.properties.questions.items.required).toContain("timestampMs");
    const prompt = req?.body.messages.map((m: { content: string }) => m.content).join("\n");
    expect(prompt).toContain(`Write ${NUM_QUESTIONS} questions`);
    expect(prompt).toContain(`[2000-4000] ${FACTS[1]}`);

    // The model's first three (in video order; the fifth was past the video and dropped), each with
    // the keyframe nearest its time.
    const questions = await questionsOf(id);
    expect(questions.map((q) => q.answer)).toEqual(["William Gericke", "14", "Calcium"]);
    expect(questions.map((q) => q.text)).toEqual(MODEL_QUESTIONS.slice(0, 3).map((q) => q.text));
    for (const q of questions) expect(done.keyframeIds).toContain(q.keyframeId);
    expect(questions[2]?.keyframeId).toBe(done.keyframeIds[1]);
    expect(analysis.output()).not.toContain(API_KEY);
  }, 90_000);

  it.each([
    ["not-json", /not JSON/],
    ["off-schema", /does not match the schema/],
    ["status-500", /HTTP 500 from the model server/],
    ["slow", new RegExp(`no reply within ${TIMEOUT_MS} ms`)],
  ] as const)(
    "falls back to the offline generator on a %s reply, questions still produced",
    async (mode, reason) => {
      model.mode = mode;
      const id = await startAnalysis();
      const done = await finished(id);
      expect(done.state, JSON.stringify(done)).toBe("completed");
      expect(done.generator).toBe("offline");
      expect(model.requests).toHaveLength(1);
      const questions = await questionsOf(id);
      expect(questions).toHaveLength(NUM_QUESTIONS);
      for (const q of questions) {
        expect(q.options).toContain(q.answer);
        expect(q.timestampMs).toBeLessThan(VIDEO_SECONDS * 1000);
        expect(MODEL_QUESTIONS.map((m) => m.text)).not.toContain(q.text);
      }
      const warning = await analysis.waitForLog(
        (l) => l.msg === "question generator failed, falling back" && l.analysisId === id,
        5_000,
      );
      expect(warning).toMatchObject({ generator: `llm:${MODEL}`, fallback: "offline" });
      expect(String(warning.reason)).toMatch(reason);
    },
    90_000,
  );

  it("cancel while the model's reply is pending aborts the HTTP request", async () => {
    model.mode = "hang";
    const id = await startAnalysis();
    await poll(
      async () => model.requests.length,
      (n) => n === 1,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    expect(model.requests[0]?.closedEarly).toBe(false);
    const cancelled = await http(base, "POST", `/api/v2/analyses/${id}/cancel`, { bearer: alice.bearer });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id, state: "cancelled", previousState: "active" });
    // The connection is closed by the client well before OPENAI_TIMEOUT_MS would have.
    await poll(
      async () => model.requests[0]?.closedEarly,
      (closed) => closed === true,
      { timeoutMs: 1_000, intervalMs: 10 },
    );
    const after = await finished(id);
    expect(after.state).toBe("cancelled");
    expect(after.generator).toBeUndefined();
    expect(after.keyframeIds).toEqual([]);
    expect(await questionsOf(id)).toEqual([]);
    expect(model.requests).toHaveLength(1);
  }, 90_000);
});
