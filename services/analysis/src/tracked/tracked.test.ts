import type { Principal, TrellisError } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { canonicalUrl, requireUser } from "./handlers.ts";
import { engagementOf, type TrackedVideoDoc } from "./store.ts";

const doc = (over: Partial<TrackedVideoDoc> = {}): TrackedVideoDoc => ({
  _id: "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
  youtubeId: "dQw4w9WgXcQ",
  title: "T",
  trackedAt: new Date(0),
  trackedBy: "u1",
  views: 3,
  answers: 0,
  correct: 0,
  questions: {},
  ...over,
});

describe("engagementOf", () => {
  it("has null rates before any answer", () => {
    expect(engagementOf(doc())).toEqual({
      url: "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
      title: "T",
      views: 3,
      answersSubmitted: 0,
      correctRate: null,
      perQuestion: [],
    });
  });

  it("rates overall and per question, questions in id order", () => {
    const e = engagementOf(
      doc({ answers: 5, correct: 2, questions: { q2: { answers: 4, correct: 1 }, q1: { answers: 1, correct: 1 } } }),
    );
    expect(e.correctRate).toBe(0.4);
    expect(e.perQuestion).toEqual([
      { questionId: "q1", answers: 1, correctRate: 1 },
      { questionId: "q2", answers: 4, correctRate: 0.25 },
    ]);
  });
});

describe("tracked-video rules", () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return (err as TrellisError).code;
    }
    return undefined;
  };

  it("a URL that is not a video URL is invalid_argument (400), never a 500", () => {
    expect(code(() => canonicalUrl("ftp://x/y"))).toBe("invalid_argument");
    expect(code(() => canonicalUrl("https://youtu.be/nope"))).toBe("invalid_argument");
    expect(canonicalUrl("https://youtu.be/dQw4w9WgXcQ").url).toBe("https://www.youtube.com/watch?v=dQw4w9WgXcQ");
  });

  it("users (learners and admins) may use tracked videos; monitors are forbidden", () => {
    const user: Principal = { kind: "user", userId: "u1", username: "a", role: "user", sessionId: "s".repeat(16) };
    const monitor: Principal = { kind: "monitor", monitorId: "0".repeat(32), ownerId: "u1", sessionId: "s".repeat(16) };
    expect(requireUser(user)).toBe(user);
    expect(code(() => requireUser(monitor))).toBe("forbidden");
  });
});
