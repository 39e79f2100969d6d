import { describe, expect, it } from "vitest";
import { faceDistance, faceMatches } from "./face.ts";

const base = Array.from({ length: 128 }, (_, i) => Math.sin(i) / 4);
const shifted = (by: number) => base.map((v, i) => (i === 0 ? v + by : v));

describe("face distance", () => {
  it("is the Euclidean distance", () => {
    expect(faceDistance([0, 0], [3, 4])).toBe(5);
    expect(faceDistance(base, base)).toBe(0);
    expect(faceDistance(base, shifted(0.5))).toBeCloseTo(0.5, 12);
  });

  it("is infinite between encodings of different dimensions", () => {
    expect(faceDistance([1, 2], [1, 2, 3])).toBe(Number.POSITIVE_INFINITY);
  });

  it("matches within the tolerance, inclusive", () => {
    expect(faceMatches(base, shifted(0.59), 0.6)).toBe(true);
    expect(faceMatches([0, 0], [0.6, 0], 0.6)).toBe(true);
    expect(faceMatches(base, shifted(0.61), 0.6)).toBe(false);
    expect(faceMatches(base, shifted(0.3), 0.2)).toBe(false);
  });
});
