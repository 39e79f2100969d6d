import { describe, expect, it } from "vitest";
import { nearestKeyframe, placeholderQuestionGenerator } from "./questions.ts";

describe("placeholder question generator", () => {
  const segments = Array.from({ length: 10 }, (_, i) => ({
    start: i * 2000,
    end: i * 2000 + 1900,
    text: `Sentence number ${i} mentions hydroponics and nutrient solution ${i}.`,
  }));
  const keyframes = [
    { id: "k0", timeMs: 0 },
    { id: "k1", timeMs: 10_000 },
  ];

  it("makes N cloze questions spread over the transcript, the answer among distinct options", async () => {
    const qs = await placeholderQuestionGenerator.generate(
      { analysisId: "a", videoId: "v", numQuestions: 4, segments, keyframes },
      new AbortController().signal,
    );
    expect(qs).toHaveLength(4);
    for (const q of qs) {
      expect(q.options).toContain(q.answer);
      expect(new Set(q.options).size).toBe(q.options.length);
      expect(q.text).toContain("_____");
      expect(q.explanation).toContain(q.answer);
    }
    expect(qs.map((q) => q.timestampMs)).toEqual([0, 4000, 10_000, 14_000]);
    expect(qs[2]?.keyframeId).toBe("k1");
  });

  it("stops when aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      placeholderQuestionGenerator.generate(
        { analysisId: "a", videoId: "v", numQuestions: 1, segments, keyframes },
        ac.signal,
      ),
    ).rejects.toThrow();
  });

  it("finds the nearest keyframe", () => {
    expect(nearestKeyframe(keyframes, 6000)).toBe("k1");
    expect(nearestKeyframe([], 6000)).toBeNull();
  });
});
