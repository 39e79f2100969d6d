import { describe, expect, it } from "vitest";
import { nanosToMs, v1TimeToMs } from "./timestamps.ts";

describe("timestamps", () => {
  it("reads v1 times below 1e11 as seconds", () => {
    expect(v1TimeToMs(1_641_347_967)).toBe(1_641_347_967_000);
    expect(v1TimeToMs(1_641_347_967.5)).toBe(1_641_347_967_500);
    expect(v1TimeToMs(1_641_347_967_585)).toBe(1_641_347_967_585);
    expect(v1TimeToMs(0)).toBe(0);
  });

  it("converts JetStream nanoseconds to milliseconds", () => {
    expect(nanosToMs(1_700_000_000_123_456_789n)).toBe(1_700_000_000_123);
  });
});
