import { deviceSubjects } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { checkReading, normalizeReading, parseReadingBytes } from "./reading.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("device readings", () => {
  it("accepts measurements and strings", () => {
    const check = parseReadingBytes(bytes('{"ph":6.5,"foliage_feed":"abc","timestamp":1700000000000}'));
    expect(check).toEqual({ ok: true, reading: { ph: 6.5, foliage_feed: "abc", timestamp: 1700000000000 } });
  });

  it.each([
    ["bad JSON", "{ph:", /not valid JSON/],
    ["an unknown field", '{"ph":1,"colour":"red"}', /Unrecognized key/],
    ["a string for a number", '{"ph":"7"}', /ph: must be a number/],
    ["a number too large for a double (Infinity)", '{"ph":1e999}', /ph: must be a/],
    ["no measurement", '{"timestamp":1}', /no measurements could be updated/],
    ["not an object", "[1,2]", /.+/],
  ])("rejects %s with a reason", (_, text, reason) => {
    const check = parseReadingBytes(bytes(text));
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toMatch(reason);
  });

  it("joins every issue into one reason", () => {
    const check = checkReading({ ph: "x", air_flow: "y" });
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason.split("; ")).toHaveLength(2);
  });

  it("takes the monitor id from the subject, lowercased", () => {
    expect(deviceSubjects.monitorOfReadings(`telemetry.v1.devices.${"AB".repeat(16)}.readings`)).toBe("ab".repeat(16));
    expect(deviceSubjects.monitorOfReadings("telemetry.v1.devices.nothex.readings")).toBeNull();
    expect(deviceSubjects.monitorOfReadings(`telemetry.v1.devices.${"a".repeat(32)}.commands`)).toBeNull();
  });

  it("uses the reading's timestamp, else when it was received", () => {
    expect(normalizeReading({ ph: 1, timestamp: 5 }, 9)).toEqual({ at: 5, values: { ph: 1 } });
    expect(normalizeReading({ ph: 1, root_stream: "r" }, 9)).toEqual({ at: 9, values: { ph: 1 }, root_stream: "r" });
  });
});
