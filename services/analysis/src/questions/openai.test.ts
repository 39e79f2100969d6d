import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GeneratorError } from "./llm.ts";
import { openAiQuestionGenerator } from "./openai.ts";

/**
 * The generator through the real `openai` client against a local server speaking the
 * chat-completions protocol (no model exists here): how each kind of answer becomes questions or
 * a `GeneratorError` with its reason, and that aborting the job closes the request.
 */
type Reply = (req: IncomingMessage, res: ServerResponse) => void;
let reply: Reply = () => {};
let closedEarly = 0;
let server: Server;
let baseURL: string;

const completion = (content: string | null, extra: Record<string, unknown> = {}) => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 0,
  model: "m",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content, refusal: null },
      logprobs: null,
      finish_reason: "stop",
      ...extra,
    },
  ],
});
const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.on("close", () => {
        if (!res.writableEnded) closedEarly++;
      });
      reply(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const input = {
  segments: [{ start: 0, end: 5_000, text: "Basil needs about 14 hours of light every day." }],
  keyframes: [{ id: "k0", atMs: 0 }],
  count: 3,
};
const question = {
  text: "Basil needs about ___ hours of light every day.",
  options: ["14"],
  answer: "14",
  explanation: "Basil needs about 14 hours of light every day.",
  timestampMs: 1_000,
  kind: "cloze",
};
const generator = (timeoutMs = 2_000) => openAiQuestionGenerator({ baseURL, model: "m", timeoutMs });
const failure = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GeneratorError);
  return (err as Error).message;
};

describe("openAiQuestionGenerator", () => {
  it("is named after the model and returns the reply's questions with their keyframe", async () => {
    reply = (_req, res) => json(res, 200, completion(JSON.stringify({ questions: [question] })));
    const g = generator();
    expect(g.name).toBe("llm:m");
    expect(await g.generate(input)).toEqual([{ ...question, keyframeId: "k0" }]);
  });

  it("names the reason of each failure", async () => {
    reply = (_req, res) => json(res, 503, { error: { message: "overloaded" } });
    expect(await failure(generator().generate(input))).toBe("HTTP 503 from the model server");
    reply = (_req, res) => json(res, 200, completion('{"questions": [', { finish_reason: "length" }));
    expect(await failure(generator().generate(input))).toMatch(/cut off/);
    reply = (_req, res) => json(res, 200, { ...completion(null), choices: [] });
    expect(await failure(generator().generate(input))).toMatch(/no choices/);
    reply = (_req, res) =>
      json(res, 200, {
        ...completion(null),
        choices: [
          { index: 0, message: { role: "assistant", content: null, refusal: "I can't" }, finish_reason: "stop" },
        ],
      });
    expect(await failure(generator().generate(input))).toMatch(/refused: I can't/);
    reply = () => {}; // never answers
    expect(await failure(generator(300).generate(input))).toBe("no reply within 300 ms");
    const unreachable = openAiQuestionGenerator({ baseURL: "http://127.0.0.1:9/v1", model: "m", timeoutMs: 2_000 });
    expect(await failure(unreachable.generate(input))).toMatch(/unreachable/);
  });

  it("aborting the job closes the pending request and throws the abort, not a GeneratorError", async () => {
    reply = () => {};
    const before = closedEarly;
    const ac = new AbortController();
    const pending = generator(10_000).generate(input, ac.signal);
    await new Promise((r) => setTimeout(r, 100));
    ac.abort(new Error("cancelled"));
    await expect(pending).rejects.toThrow("cancelled");
    await expect.poll(() => closedEarly, { timeout: 1_000 }).toBe(before + 1);
  });
});
