import { describe, expect, it } from "vitest";
import { GeneratorError } from "../questions/llm.ts";
import type { QuestionGenerator } from "../questions/types.ts";
import { questionStep } from "./questions.ts";

/** A logger that keeps what was warned. */
const recorder = () => {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  return { warnings, log: { warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }) } };
};

describe("questions step (offline generator)", () => {
  const segments = Array.from({ length: 12 }, (_, i) => ({
    start: i * 5000,
    end: i * 5000 + 4900,
    text: [
      "Lettuce grows well in a nutrient film technique system.",
      "The pH of the nutrient solution should stay between 5.5 and 6.5.",
      "Basil needs about 14 hours of light every day.",
      "In 1937 William Gericke coined the word hydroponics.",
    ][i % 4] as string,
  }));
  const keyframes = Array.from({ length: 6 }, (_, i) => ({
    id: `00000000-0000-4000-8000-00000000000${i}`,
    atMs: i * 10_000,
  }));

  it("gives each question an id, the analysis and the video, at most N, answers among the options", async () => {
    const { generator, questions: qs } = await questionStep().generate(
      { analysisId: "a", videoId: "v", numQuestions: 3, segments, keyframes },
      new AbortController().signal,
      recorder().log as never,
    );
    expect(generator).toBe("offline");
    expect(qs.length).toBeGreaterThan(0);
    expect(qs.length).toBeLessThanOrEqual(3);
    expect(new Set(qs.map((q) => q.id)).size).toBe(qs.length);
    for (const q of qs) {
      expect(q).toMatchObject({ analysisId: "a", videoId: "v" });
      expect(q.options).toContain(q.answer);
      expect(keyframes.map((k) => k.id)).toContain(q.keyframeId);
    }
  });

  it("stops when aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      questionStep().generate(
        { analysisId: "a", videoId: "v", numQuestions: 1, segments, keyframes },
        ac.signal,
        recorder().log as never,
      ),
    ).rejects.toThrow();
  });

  const input = { analysisId: "a", videoId: "v", numQuestions: 2, segments, keyframes };
  const llmQuestion = {
    text: "How many hours of light does basil need?",
    options: ["14", "6", "20", "2"],
    answer: "14",
    explanation: "Basil needs about 14 hours of light every day.",
    timestampMs: 10_500,
    keyframeId: keyframes[1]?.id ?? null,
    kind: "multiple_choice" as const,
  };

  it("uses the preferred generator's questions and records its name", async () => {
    const llm: QuestionGenerator = { name: "llm:test", generate: async () => [llmQuestion] };
    const { generator, questions } = await questionStep([llm]).generate(
      input,
      new AbortController().signal,
      recorder().log as never,
    );
    expect(generator).toBe("llm:test");
    expect(questions).toHaveLength(1);
    expect(questions[0]).toMatchObject({ ...llmQuestion, analysisId: "a", videoId: "v" });
  });

  it("falls back to the offline generator when the preferred one fails, logging the reason", async () => {
    const llm: QuestionGenerator = {
      name: "llm:test",
      generate: async () => {
        throw new GeneratorError("HTTP 500 from the model server");
      },
    };
    const { warnings, log } = recorder();
    const { generator, questions } = await questionStep([llm]).generate(
      input,
      new AbortController().signal,
      log as never,
    );
    expect(generator).toBe("offline");
    expect(questions.length).toBeGreaterThan(0);
    expect(warnings).toEqual([
      {
        obj: { generator: "llm:test", fallback: "offline", reason: "HTTP 500 from the model server" },
        msg: "question generator failed, falling back",
      },
    ]);
  });

  it("does not fall back once the job is aborted: the abort is what is thrown", async () => {
    const ac = new AbortController();
    const llm: QuestionGenerator = {
      name: "llm:test",
      generate: async () => {
        ac.abort(new Error("cancelled"));
        throw new GeneratorError("aborted");
      },
    };
    const { warnings, log } = recorder();
    await expect(questionStep([llm]).generate(input, ac.signal, log as never)).rejects.toThrow("aborted");
    expect(warnings).toEqual([]);
  });
});
