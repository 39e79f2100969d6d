import { describe, expect, it } from "vitest";
import { GeneratorError, promptMessages, questionsFromReply } from "./llm.ts";
import { ModelQuestions, modelQuestionsJsonSchema } from "./types.ts";

const segments = [
  { start: 0, end: 4_000, text: "Hydroponics means growing plants without soil." },
  { start: 4_000, end: 8_000, text: "In 1937 William Gericke coined the word hydroponics." },
  { start: 8_000, end: 12_000, text: "Basil needs about 14 hours of light every day." },
];
const keyframes = [
  { id: "k0", atMs: 0 },
  { id: "k1", atMs: 5_000 },
  { id: "k2", atMs: 10_000 },
];
const input = { segments, keyframes, count: 5 };

const mc = (over: Record<string, unknown> = {}) => ({
  text: "Who coined the word hydroponics?",
  options: ["William Gericke", "Isaac Newton", "Marie Curie", "Charles Darwin"],
  answer: "William Gericke",
  explanation: "In 1937 William Gericke coined the word hydroponics.",
  timestampMs: 5_200,
  kind: "multiple_choice",
  ...over,
});
const cloze = (over: Record<string, unknown> = {}) => ({
  text: "Basil needs about ___ hours of light every day.",
  options: ["14"],
  answer: "14",
  explanation: "Basil needs about 14 hours of light every day.",
  timestampMs: 9_000,
  kind: "cloze",
  ...over,
});
const reply = (...questions: unknown[]) => JSON.stringify({ questions });

describe("the JSON schema sent as response_format", () => {
  it("is ModelQuestions: closed objects, every field required, no keyframe (the generator adds it)", () => {
    const schema = modelQuestionsJsonSchema() as {
      $schema?: unknown;
      additionalProperties: boolean;
      required: string[];
      properties: { questions: { items: { required: string[]; additionalProperties: boolean } } };
    };
    expect(schema.$schema).toBeUndefined();
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["questions"]);
    const item = schema.properties.questions.items;
    expect(item.additionalProperties).toBe(false);
    expect(item.required.sort()).toEqual(["answer", "explanation", "kind", "options", "text", "timestampMs"]);
    // What the schema accepts, the parser accepts too.
    expect(ModelQuestions.safeParse(JSON.parse(reply(mc(), cloze()))).success).toBe(true);
  });
});

describe("promptMessages", () => {
  it("asks for N questions over the timed transcript lines", () => {
    const [system, user] = promptMessages(input);
    expect(system?.role).toBe("system");
    expect(user?.content).toContain("Write 5 questions");
    expect(user?.content).toContain("[4000-8000] In 1937 William Gericke coined the word hydroponics.");
  });

  it("cuts a transcript longer than the budget and says so", () => {
    const [, user] = promptMessages(input, 60);
    expect(user?.content).toContain("(its beginning; the rest was cut)");
    expect(user?.content).toContain("[0-4000]");
    expect(user?.content).not.toContain("[8000-12000]");
  });
});

describe("questionsFromReply", () => {
  it("keeps valid questions in video order, each with the nearest keyframe", () => {
    const { questions, dropped } = questionsFromReply(reply(cloze(), mc()), input);
    expect(dropped).toEqual([]);
    expect(questions.map((q) => [q.answer, q.keyframeId])).toEqual([
      ["William Gericke", "k1"],
      ["14", "k2"],
    ]);
  });

  it("keeps at most `count`", () => {
    const { questions } = questionsFromReply(reply(mc(), cloze()), { ...input, count: 1 });
    expect(questions).toHaveLength(1);
  });

  it.each([
    ["an empty reply", "", /empty/],
    ["a reply that is not JSON", "Sure! Here are your questions:", /not JSON/],
    ["off-schema JSON (a missing field)", JSON.stringify({ questions: [{ text: "x" }] }), /does not match the schema/],
    ["off-schema JSON (another shape)", JSON.stringify([mc()]), /does not match the schema/],
    ["an answer that is not among the options", reply(mc({ answer: "Newton" })), /answer must be one of the options/],
    ["repeated options", reply(mc({ options: ["A", "A", "William Gericke"] })), /options must be distinct/],
    ["a negative timestamp", reply(mc({ timestampMs: -1 })), /does not match the schema/],
    ["no questions", reply(), /no questions/],
  ])("rejects %s", (_, content, message) => {
    expect(() => questionsFromReply(content, input)).toThrow(GeneratorError);
    expect(() => questionsFromReply(content, input)).toThrow(message);
  });

  it("drops questions that do not fit the transcript, and rejects a reply where none does", () => {
    const bad = [
      mc({ timestampMs: 60_000 }),
      mc({ options: ["William Gericke", "william  gericke", "Marie Curie"] }),
      cloze({ text: "How many hours of light does basil need?" }),
    ];
    const { questions, dropped } = questionsFromReply(reply(cloze(), ...bad), input);
    expect(questions.map((q) => q.answer)).toEqual(["14"]);
    expect(dropped).toEqual([
      expect.stringMatching(/question 2: timestamp 1:00 \(60000 ms\) is inside no transcript segment/),
      expect.stringMatching(/question 3: options differ only in case/),
      expect.stringMatching(/question 4: a cloze question without a ___ blank/),
    ]);
    expect(() => questionsFromReply(reply(...bad), input)).toThrow(/no question of the model fits the transcript/);
  });

  it("drops a second question with the same answer", () => {
    const { questions, dropped } = questionsFromReply(reply(mc(), mc({ text: "Who named hydroponics?" })), input);
    expect(questions).toHaveLength(1);
    expect(dropped).toEqual([expect.stringMatching(/already another question's/)]);
  });
});
