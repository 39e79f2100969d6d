import { randomUUID } from "node:crypto";
import type { Principal } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { actingFor, mayAccess, requireUser } from "./authorization.ts";

const user = (role: "user" | "admin") =>
  ({ kind: "user", userId: randomUUID(), username: role, role, sessionId: "s".repeat(16) }) as const;
const monitor: Principal = {
  kind: "monitor",
  monitorId: "a".repeat(32),
  ownerId: randomUUID(),
  sessionId: "s".repeat(16),
};

describe("media authorization", () => {
  it("refuses monitors everywhere", () => {
    expect(() => requireUser(monitor)).toThrow(/monitors have no access/);
    expect(() => actingFor(monitor, undefined)).toThrow(/monitors/);
  });

  it("lets the owner and admins see an item, nobody else", () => {
    const alice = user("user");
    const admin = user("admin");
    expect(mayAccess(alice, alice.userId)).toBe(true);
    expect(mayAccess(admin, alice.userId)).toBe(true);
    expect(mayAccess(user("user"), alice.userId)).toBe(false);
  });

  it("acts for the caller by default, for another user only as an admin", () => {
    const alice = user("user");
    const admin = user("admin");
    expect(actingFor(alice, undefined).ownerId).toBe(alice.userId);
    expect(actingFor(alice, alice.userId).ownerId).toBe(alice.userId);
    expect(() => actingFor(alice, admin.userId)).toThrow(/only admins/);
    expect(actingFor(admin, alice.userId).ownerId).toBe(alice.userId);
  });
});
