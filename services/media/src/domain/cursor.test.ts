import { randomUUID } from "node:crypto";
import { TrellisError } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, pageOf } from "./cursor.ts";

describe("page cursors", () => {
  it("round-trip", () => {
    const c = { at: 1_796_000_000_123, id: randomUUID() };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
  });

  it("refuse what this API did not give out", () => {
    expect(() => decodeCursor("not-a-cursor")).toThrow(TrellisError);
    expect(() => decodeCursor("1.../../etc")).toThrow(/cursor/);
  });

  it("continue a page only when more items exist", () => {
    const items = [1, 2, 3].map((n) => ({ n, id: randomUUID() }));
    const of = (i: { n: number; id: string }) => ({ at: i.n, id: i.id });
    const more = pageOf(items, 2, of);
    expect(more.items.map((i) => i.n)).toEqual([1, 2]);
    expect(decodeCursor(more.next as string)).toEqual({ at: 2, id: items[1]?.id });
    expect(pageOf(items, 3, of).next).toBeNull();
  });
});
