import { describe, expect, it } from "vitest";
import { inRanges, toRanges } from "./seq-ranges.ts";

describe("sequence ranges", () => {
  it("compresses runs, in order, without duplicates", () => {
    expect(toRanges([7, 3, 4, 5, 9, 10, 5])).toEqual([
      [3, 5],
      [7, 7],
      [9, 10],
    ]);
    expect(toRanges([])).toEqual([]);
  });

  it("answers membership at the edges and in gaps", () => {
    const r = toRanges([1, 2, 3, 10]);
    expect([0, 1, 3, 4, 9, 10, 11].map((s) => inRanges(r, s))).toEqual([false, true, true, false, false, true, false]);
  });
});
