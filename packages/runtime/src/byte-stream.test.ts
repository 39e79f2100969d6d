import { describe, expect, it } from "vitest";
import { readAll, rechunk } from "./byte-stream.ts";

const collect = async (source: AsyncIterable<Uint8Array>) => {
  const out: Uint8Array[] = [];
  for await (const c of source) out.push(c);
  return out;
};

describe("rechunk", () => {
  it("cuts strings and byte arrays into chunks of exactly `size` bytes, the last one shorter", async () => {
    const chunks = await collect(rechunk(["ab", new Uint8Array([0x63, 0x64, 0x65]), "", "é", "fghi"], 3));
    expect(chunks.map((c) => c.length)).toEqual([3, 3, 3, 2]);
    expect(Buffer.concat(chunks).toString("utf8")).toBe("abcdeéfghi");
  });

  it("passes an exactly sized piece through and yields nothing for an empty source", async () => {
    const piece = new Uint8Array(4);
    const [only] = await collect(rechunk([piece], 4));
    expect(only).toBe(piece);
    expect((await readAll(rechunk([], 4))).length).toBe(0);
  });

  it("refuses a size that could never fill a chunk instead of looping forever", async () => {
    for (const size of [0, -1, 1.5, Number.NaN]) {
      await expect(collect(rechunk(["abc"], size))).rejects.toThrow(RangeError);
    }
  });
});
