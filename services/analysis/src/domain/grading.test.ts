import type { Question } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { mayAnswer } from "./access.ts";
import { grade, learnerView, normalizeAnswer, scoreOf } from "./grading.ts";

const q = (over: Partial<Question> = {}): Question => ({
  id: "00000000-0000-4000-8000-000000000001",
  analysisId: "00000000-0000-4000-8000-000000000002",
  videoId: "00000000-0000-4000-8000-000000000003",
  kind: "multiple_choice",
  text: "Who coined the word hydroponics in ___?",
  options: ["William Gericke", "NASA", "Basil"],
  answer: "William Gericke",
  explanation: "In 1937 William Gericke coined the word hydroponics.",
  timestampMs: 2_000,
  keyframeId: null,
  ...over,
});

describe("normalizeAnswer", () => {
  it("ignores case, spacing, end punctuation and a leading article, keeps inner punctuation", () => {
    expect(normalizeAnswer("  The   Nile. ")).toBe("nile");
    expect(normalizeAnswer("5.5")).toBe("5.5");
    expect(normalizeAnswer("an apple")).toBe("apple");
    expect(normalizeAnswer("the")).toBe("the");
    expect(normalizeAnswer("ＡＢＣ")).toBe("abc");
    expect(normalizeAnswer("?!")).toBe("");
  });
});

describe("grade", () => {
  it("multiple choice: right, wrong, and an answer outside the options refused", () => {
    expect(grade(q(), "william gericke")).toEqual({ ok: true, correct: true });
    expect(grade(q(), "NASA")).toEqual({ ok: true, correct: false });
    expect(grade(q(), "Gericke")).toMatchObject({ ok: false });
  });

  it("cloze: free text compared normalised", () => {
    const cloze = q({ kind: "cloze", options: ["1937"], answer: "1937" });
    expect(grade(cloze, " 1937. ")).toEqual({ ok: true, correct: true });
    expect(grade(cloze, "1938")).toEqual({ ok: true, correct: false });
    expect(grade(cloze, "...")).toMatchObject({ ok: false });
  });
});

describe("learnerView", () => {
  it("drops the answer and explanation, and a cloze question's options", () => {
    const v = learnerView(q());
    expect(v).not.toHaveProperty("answer");
    expect(v).not.toHaveProperty("explanation");
    expect(v.options).toEqual(["William Gericke", "NASA", "Basil"]);
    expect(learnerView(q({ kind: "cloze", options: ["1937"], answer: "1937" })).options).toEqual([]);
  });
});

describe("mayAnswer", () => {
  const owner = { kind: "user", userId: "u1", username: "o", role: "user", sessionId: "s".repeat(16) } as const;
  const other = { ...owner, userId: "u2" } as const;
  const admin = { ...owner, userId: "u3", role: "admin" } as const;
  const monitor = { kind: "monitor", monitorId: "0".repeat(32), ownerId: "u1", sessionId: "s".repeat(16) } as const;
  const a = (shared: boolean, trackedUrl: string | null) => ({ ownerId: "u1", shared, trackedUrl });

  it.each([
    ["owner, private", owner, a(false, null), true],
    ["admin, private", admin, a(false, null), true],
    ["other user, private", other, a(false, null), false],
    ["other user, shared", other, a(true, null), true],
    ["other user, tracked", other, a(false, "https://x/v.mp4"), true],
    ["monitor, shared", monitor, a(true, null), false],
  ])("%s → %s", (_what, actor, analysis, expected) => {
    expect(mayAnswer(actor, analysis)).toBe(expected);
  });
});

describe("scoreOf", () => {
  it("counts unanswered questions as wrong; null without questions", () => {
    expect(scoreOf(3, 4)).toBe(0.75);
    expect(scoreOf(0, 0)).toBeNull();
  });
});
