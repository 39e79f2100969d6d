import { describe, expect, it } from "vitest";
import { questionStep } from "./questions.ts";

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
    timeMs: i * 10_000,
  }));

  it("gives each question an id, the analysis and the video, at most N, answers among the options", async () => {
    const qs = await questionStep().generate(
      { analysisId: "a", videoId: "v", numQuestions: 3, segments, keyframes },
      new AbortController().signal,
    );
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
      questionStep().generate({ analysisId: "a", videoId: "v", numQuestions: 1, segments, keyframes }, ac.signal),
    ).rejects.toThrow();
  });
});
