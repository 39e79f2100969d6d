import type { Principal } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { requireAdmin, requireMayRegister, requireSelfOrAdmin, requireUser } from "./authorization.ts";

const SELF = "11111111-1111-4111-8111-111111111111";
const OTHER = "22222222-2222-4222-8222-222222222222";
const actors: Record<"self" | "other" | "admin" | "monitor", Principal> = {
  self: { kind: "user", userId: SELF, username: "self", role: "user", sessionId: "s".repeat(22) },
  other: { kind: "user", userId: OTHER, username: "other", role: "user", sessionId: "o".repeat(22) },
  admin: {
    kind: "user",
    userId: "33333333-3333-4333-8333-333333333333",
    username: "root",
    role: "admin",
    sessionId: "a".repeat(22),
  },
  monitor: { kind: "monitor", monitorId: "ab".repeat(16), ownerId: SELF, sessionId: "m".repeat(22) },
};

const allowed = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (err) {
    expect((err as { code?: string }).code).toBe("forbidden");
    return false;
  }
};

describe("authorization rules", () => {
  it.each([
    // actor, requireUser, requireAdmin, requireSelfOrAdmin(SELF)
    ["self", true, false, true],
    ["other", true, false, false],
    ["admin", true, true, true],
    ["monitor", false, false, false],
  ] as const)("%s: user %s, admin %s, self-or-admin %s", (who, user, admin, selfOrAdmin) => {
    const actor = actors[who];
    expect(allowed(() => requireUser(actor))).toBe(user);
    expect(allowed(() => requireAdmin(actor))).toBe(admin);
    expect(allowed(() => requireSelfOrAdmin(actor, SELF))).toBe(selfOrAdmin);
  });

  it.each([
    // actor, role, registration mode, allowed
    [undefined, "user", "open", true],
    [undefined, "admin", "open", false],
    [undefined, "user", "admin", false],
    ["self", "user", "open", false],
    ["monitor", "user", "open", false],
    ["admin", "user", "admin", true],
    ["admin", "admin", "open", true],
  ] as const)("register by %s as %s with registration %s: %s", (who, role, mode, ok) => {
    const actor = who === undefined ? undefined : actors[who];
    expect(allowed(() => requireMayRegister(actor, role, mode))).toBe(ok);
  });
});
