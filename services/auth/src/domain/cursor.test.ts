import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "./cursor.ts";

describe("user list cursor", () => {
  it("round-trips and is opaque base64url", () => {
    const cursor = { createdAt: new Date("2024-05-01T12:34:56.789Z"), id: "0f8fad5b-d9cb-469f-a165-70867728950e" };
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual(cursor);
  });

  it.each([
    ["empty", ""],
    ["not base64url", "a+b/c="],
    ["not JSON", Buffer.from("nope").toString("base64url")],
    ["JSON null", Buffer.from("null").toString("base64url")],
    ["wrong fields", Buffer.from(JSON.stringify({ x: 1 })).toString("base64url")],
    ["time not a number", Buffer.from(JSON.stringify({ t: "1", i: "x" })).toString("base64url")],
    ["negative time", Buffer.from(JSON.stringify({ t: -1, i: "x" })).toString("base64url")],
    ["empty id", Buffer.from(JSON.stringify({ t: 1, i: "" })).toString("base64url")],
  ])("refuses %s with invalid_argument", (_, text) => {
    expect(() => decodeCursor(text)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});
