import type { Principal } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { requireAdmin, requireReader, requireReaderV1, requireWriter } from "./authorization.ts";

const owner = "0f8fad5b-d9cb-469f-a165-70867728950e";
const other = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const monitorId = "a".repeat(32);
const user = (userId: string, role: "user" | "admin" = "user"): Principal => ({
  kind: "user",
  userId,
  username: "u",
  role,
  sessionId: "s".repeat(16),
});
const monitor = (id: string): Principal => ({
  kind: "monitor",
  monitorId: id,
  ownerId: owner,
  sessionId: "s".repeat(16),
});
const forbidden = expect.objectContaining({ code: "forbidden" });
const notFound = expect.objectContaining({ code: "not_found" });

describe("telemetry authorization", () => {
  it("lets owners and admins read; another user's and a missing monitor are not_found alike; monitors are forbidden", () => {
    expect(() => requireReader(user(owner), owner)).not.toThrow();
    expect(() => requireReader(user(other, "admin"), owner)).not.toThrow();
    expect(() => requireReader(user(other, "admin"), null)).not.toThrow();
    expect(() => requireReader(user(other), owner)).toThrow(notFound);
    expect(() => requireReader(user(owner), null)).toThrow(notFound);
    expect(() => requireReader(monitor(monitorId), owner)).toThrow(forbidden);
  });

  it("keeps seed 002's 403 for /api/v1", () => {
    expect(() => requireReaderV1(user(owner), owner)).not.toThrow();
    expect(() => requireReaderV1(user(other, "admin"), null)).not.toThrow();
    expect(() => requireReaderV1(user(other), owner)).toThrow(forbidden);
    expect(() => requireReaderV1(user(owner), null)).toThrow(forbidden);
    expect(() => requireReaderV1(monitor(monitorId), owner)).toThrow(forbidden);
  });

  it("lets the monitor itself and admins write", () => {
    expect(() => requireWriter(monitor(monitorId), monitorId)).not.toThrow();
    expect(() => requireWriter(user(other, "admin"), monitorId)).not.toThrow();
    expect(() => requireWriter(monitor("b".repeat(32)), monitorId)).toThrow(notFound);
    expect(() => requireWriter(user(owner), monitorId)).toThrow(forbidden);
  });

  it("admin only", () => {
    expect(() => requireAdmin(user(owner))).toThrow(forbidden);
    expect(() => requireAdmin(monitor(monitorId))).toThrow(forbidden);
    expect(requireAdmin(user(owner, "admin")).userId).toBe(owner);
  });
});
