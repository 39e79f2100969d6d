import { describe, expect, it } from "vitest";
import { checkQuota } from "./quota.ts";

describe("checkQuota", () => {
  it("lets an upload fill the quota exactly, not one byte more", () => {
    expect(() => checkQuota(900, 100, 1_000)).not.toThrow();
    expect(() => checkQuota(900, 101, 1_000)).toThrow(/storage quota exceeded: 900 of 1000 bytes are used/);
  });

  it("is off at 0", () => {
    expect(() => checkQuota(10 ** 12, 10 ** 12, 0)).not.toThrow();
  });

  it("says payload_too_large (413)", () => {
    try {
      checkQuota(1, 1, 1);
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe("payload_too_large");
    }
  });
});
