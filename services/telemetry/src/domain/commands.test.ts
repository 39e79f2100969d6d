import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, expiryOf, interpretAnswer } from "./commands.ts";

const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

describe("interpretAnswer", () => {
  it("ok with a result succeeds with that result; ok without one succeeds with null", () => {
    expect(interpretAnswer(bytes({ ok: true, result: { offset: 0.12 } }))).toEqual({
      state: "succeeded",
      result: { offset: 0.12 },
    });
    expect(interpretAnswer(bytes({ ok: true }))).toEqual({ state: "succeeded", result: null });
  });

  it("ok: false fails with the device's error", () => {
    expect(interpretAnswer(bytes({ ok: false, error: "unknown command" }))).toEqual({
      state: "failed",
      error: "unknown command",
    });
  });

  it("anything else fails, saying why", () => {
    const notJson = interpretAnswer(bytes("hello"));
    expect(notJson).toEqual({ state: "failed", error: "invalid answer from the device: not JSON" });
    const noError = interpretAnswer(bytes({ ok: false }));
    expect(noError.state).toBe("failed");
    expect((noError as { error: string }).error).toMatch(/invalid answer.*error/);
    expect(interpretAnswer(bytes({ result: 1 })).state).toBe("failed");
    expect(interpretAnswer(bytes({ ok: false, error: "x".repeat(5_000) })).state).toBe("failed");
    expect(interpretAnswer(bytes({ ok: true, result: "x".repeat(70_000) }))).toEqual({
      state: "failed",
      error: "the device's answer is larger than 65536 bytes",
    });
  });
});

describe("expiryOf", () => {
  it("a persistent command waits expiresInMs (an hour by default); a non-persistent one its timeout", () => {
    expect(expiryOf(1_000, { persistent: true, timeoutMs: 5_000, expiresInMs: 60_000 })).toBe(61_000);
    expect(expiryOf(1_000, { persistent: true, timeoutMs: 5_000 })).toBe(3_601_000);
    expect(expiryOf(1_000, { persistent: false, timeoutMs: 5_000, expiresInMs: 60_000 })).toBe(6_000);
  });
});

describe("cursor", () => {
  it("round-trips the time and the id", () => {
    const at = new Date(1_764_000_000_123);
    const id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    expect(decodeCursor(encodeCursor(at, id))).toEqual({ createdAt: at, id });
  });
});
