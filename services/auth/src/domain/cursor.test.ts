import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "./cursor.ts";

describe("user list cursor", () => {
  it("round-trips as `<ms>.<id>`", () => {
    const cursor = { createdAt: new Date("2024-05-01T12:34:56.789Z"), id: "0f8fad5b-d9cb-469f-a165-70867728950e" };
    const text = encodeCursor(cursor);
    expect(text).toBe("1714566896789.0f8fad5b-d9cb-469f-a165-70867728950e");
    expect(decodeCursor(text)).toEqual(cursor);
  });

  it.each([
    ["empty", ""],
    ["no id", "1714566896789."],
    ["no time", ".0f8fad5b-d9cb-469f-a165-70867728950e"],
    ["negative time", "-1.0f8fad5b-d9cb-469f-a165-70867728950e"],
    ["an id of another shape", "1.x"],
    ["the old base64url form", Buffer.from(JSON.stringify({ t: 1, i: "x" })).toString("base64url")],
  ])("refuses %s with invalid_argument", (_, text) => {
    expect(() => decodeCursor(text)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});
