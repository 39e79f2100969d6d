import { MAX_STRING_FIELD_BYTES, Reading, TrellisError } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { readingFromV1Update } from "./v1-update.ts";

const refusal = (body: Record<string, unknown>): TrellisError => {
  try {
    readingFromV1Update(body);
  } catch (err) {
    return err as TrellisError;
  }
  throw new Error("expected a refusal");
};

describe("seed 002 monitors/update rules", () => {
  it("ignores keys outside the ten known fields", () => {
    const { reading, skipped } = readingFromV1Update({ token: "t", id: "x", ph: 6.1, humidity: 40, extra: "y" });
    expect(reading).toEqual({ ph: 6.1 });
    expect(skipped).toEqual([]);
  });

  it("ignores null and empty-string values", () => {
    const { reading, skipped } = readingFromV1Update({ ph: null, reservoir_temp: "", air_flow: 2.5, foliage_feed: "" });
    expect(reading).toEqual({ air_flow: 2.5 });
    expect(skipped).toEqual([]);
  });

  it("stores an integer as the number it is", () => {
    const { reading } = readingFromV1Update({ ph: 3, light_intensity: 0 });
    expect(reading).toEqual({ ph: 3, light_intensity: 0 });
    expect(Number.isInteger(reading.ph)).toBe(true);
  });

  it("skips a value of the wrong type and keeps the rest", () => {
    const { reading, skipped } = readingFromV1Update({
      ph: "6.5",
      reservoir_temp: 19.5,
      soil_moisture: true,
      dissolved_oxygen: { v: 1 },
      root_stream: 12,
      foliage_feed: "aGVsbG8=",
    });
    expect(reading).toEqual({ reservoir_temp: 19.5, foliage_feed: "aGVsbG8=" });
    expect(skipped.sort()).toEqual(["dissolved_oxygen", "ph", "root_stream", "soil_moisture"]);
  });

  it("is the seed's 400 when nothing is left to store", () => {
    const err = refusal({ ph: "high", foliage_feed: 3, humidity: 2, reservoir_temp: null });
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toBe("no measurements could be updated");
    expect(refusal({}).code).toBe("invalid_argument");
  });

  it("skips non-finite numbers (a JSON 1e999 parses to Infinity)", () => {
    const { reading, skipped } = readingFromV1Update({ ph: Number.POSITIVE_INFINITY, air_flow: 1 });
    expect(reading).toEqual({ air_flow: 1 });
    expect(skipped).toEqual(["ph"]);
  });

  it("refuses an oversized camera field with 413 instead of dropping it", () => {
    const err = refusal({ ph: 6, foliage_feed: "a".repeat(MAX_STRING_FIELD_BYTES + 1) });
    expect(err.code).toBe("payload_too_large");
  });

  it("always produces a reading the strict device contract accepts", () => {
    const { reading } = readingFromV1Update({ ph: 7, ec: "x", electrical_conductivity: 1.2e3, root_stream: "abc" });
    expect(Reading.safeParse(reading).success).toBe(true);
  });
});
