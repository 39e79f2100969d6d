import { TrellisError } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { assertPasswordPolicy, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from "./password-policy.ts";

describe("password policy", () => {
  it("accepts a long, uncommon password", () => {
    expect(passwordProblem("Correct-Horse-Battery-9", { username: "alice" })).toBeNull();
  });

  it("bounds the length at 8..128 characters", () => {
    expect(passwordProblem("x7Q!a9z")).toMatch(/at least 8/);
    expect(passwordProblem("x7Q!a9zK")).toBeNull();
    expect(passwordProblem("aZ9!".repeat(32))).toBeNull();
    expect(passwordProblem(`${"aZ9!".repeat(32)}x`)).toMatch(/at most 128/);
    expect([PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH]).toEqual([8, 128]);
  });

  it("counts characters, not UTF-16 units", () => {
    expect(passwordProblem("🌱🌱🌱🌱")).toMatch(/at least 8/);
  });

  it("refuses common passwords, ignoring case", () => {
    expect(passwordProblem("password")).toMatch(/too common/);
    expect(passwordProblem("PassWord1")).toMatch(/too common/);
    expect(passwordProblem("12345678")).toMatch(/too common/);
  });

  it("refuses the username, ignoring case", () => {
    expect(passwordProblem("Gardener-42x", { username: "gardener-42X" })).toMatch(/username/);
    expect(passwordProblem("Gardener-42x", { username: "someone" })).toBeNull();
  });

  it("throws invalid_argument with the reason", () => {
    expect(() => assertPasswordPolicy("short")).toThrow(TrellisError);
    try {
      assertPasswordPolicy("short");
    } catch (err) {
      expect((err as TrellisError).code).toBe("invalid_argument");
      expect((err as TrellisError).message).toMatch(/at least 8/);
    }
  });
});
