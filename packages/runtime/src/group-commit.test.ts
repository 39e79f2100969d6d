import { describe, expect, it } from "vitest";
import { GroupCommit } from "./group-commit.ts";

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("GroupCommit", () => {
  it("writes a lone item at once and groups what arrives while a write is in flight", async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const gate = () => new Promise<void>((resolve) => (release = resolve));
    const commit = new GroupCommit<number, string>(async (items) => {
      batches.push(items);
      await gate();
      return items.map((i) => `#${i}`);
    });
    const first = commit.submit(1);
    await tick();
    expect(batches).toEqual([[1]]);
    const rest = [2, 3, 4].map((i) => commit.submit(i));
    await tick();
    expect(batches).toEqual([[1]]); // waiting for the first write
    release();
    expect(await first).toBe("#1");
    await tick();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    release();
    expect(await Promise.all(rest)).toEqual(["#2", "#3", "#4"]);
  });

  it("caps a batch at maxBatch", async () => {
    const sizes: number[] = [];
    const commit = new GroupCommit<number, number>(async (items) => {
      sizes.push(items.length);
      await tick();
      return items;
    }, 3);
    const out = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => commit.submit(i)));
    expect(out).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([1, 3, 3]);
  });

  it("rejects every caller of a failed batch, and the next batch still runs", async () => {
    let fail = true;
    const commit = new GroupCommit<number, number>(async (items) => {
      await tick();
      if (fail) {
        fail = false;
        throw new Error("disk full");
      }
      return items;
    });
    const a = commit.submit(1);
    const b = commit.submit(2);
    await expect(a).rejects.toThrow("disk full");
    await expect(b).resolves.toBe(2);
    await expect(commit.submit(3)).resolves.toBe(3);
  });

  it("rejects when the write answers the wrong number of outcomes", async () => {
    const commit = new GroupCommit<number, number>(async () => []);
    await expect(commit.submit(1)).rejects.toThrow("0 outcomes for 1 items");
  });
});
