import { describe, expect, it } from "vitest";
import { mayAccess } from "./access.ts";
import { keyframeTimeMs, progressTimeMs } from "./ffmpeg-progress.ts";
import { ProgressThrottle, progressAt } from "./progress.ts";

describe("progressAt", () => {
  it("maps a stage's fraction onto the overall percent, clamped", () => {
    expect(progressAt("transcript", 0)).toEqual({ stage: "transcript", percent: 0 });
    expect(progressAt("keyframes", 0.5)).toEqual({ stage: "keyframes", percent: 45 });
    expect(progressAt("keyframes", 7)).toEqual({ stage: "keyframes", percent: 85 });
    expect(progressAt("questions", Number.NaN)).toEqual({ stage: "questions", percent: 85 });
    expect(progressAt("done", 0).percent).toBe(100);
  });
});

describe("ProgressThrottle", () => {
  it("lets stage changes through, and forward moves at most once per interval", () => {
    const t = new ProgressThrottle(100);
    expect(t.shouldEmit({ stage: "keyframes", percent: 5 }, 0)).toBe(true);
    expect(t.shouldEmit({ stage: "keyframes", percent: 6 }, 50)).toBe(false);
    expect(t.shouldEmit({ stage: "keyframes", percent: 7 }, 120)).toBe(true);
    expect(t.shouldEmit({ stage: "keyframes", percent: 7 }, 400)).toBe(false);
    expect(t.shouldEmit({ stage: "questions", percent: 85 }, 401)).toBe(true);
  });
});

describe("ffmpeg progress", () => {
  it("reads out_time_us and out_time_ms as microseconds", () => {
    expect(progressTimeMs("out_time_us=2500000")).toBe(2500);
    expect(progressTimeMs("out_time_ms=1000000")).toBe(1000);
    expect(progressTimeMs("out_time=00:00:02.5")).toBeNull();
    expect(progressTimeMs("out_time_us=N/A")).toBeNull();
    expect(keyframeTimeMs(3, 5)).toBe(15_000);
  });
});

describe("mayAccess", () => {
  const user = {
    kind: "user",
    userId: "8c1b6b5e-7f5c-4d89-9d59-3f3a1c1e2b10",
    username: "a",
    sessionId: "s".repeat(16),
  } as const;
  it("lets the owner and admins in, nobody else", () => {
    expect(mayAccess({ ...user, role: "user" }, user.userId)).toBe(true);
    expect(mayAccess({ ...user, role: "user" }, "0b4a6f1e-0000-4000-8000-000000000000")).toBe(false);
    expect(mayAccess({ ...user, role: "admin" }, "0b4a6f1e-0000-4000-8000-000000000000")).toBe(true);
  });
});
