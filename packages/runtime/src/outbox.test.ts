import type { Collection } from "mongodb";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Outbox } from "./outbox.ts";

// The write parts only: no collection is touched (outbox.int.test.ts runs the rest on real servers).
const outbox = new Outbox<{ id: string; n: number }>({
  collection: {} as Collection,
  deliver: async () => {},
  log: pino({ level: "silent" }),
  retryAfterMs: 1_000,
  sweepIntervalMs: 500,
});

describe("Outbox write parts", () => {
  it("commits entries under outbox.<id> with the earliest due time kept ($min)", () => {
    const update = outbox.pendingUpdate(
      [
        { id: "a", n: 1 },
        { id: "b", n: 2 },
      ],
      10_000,
    );
    expect(update).toEqual({
      $set: { "outbox.a": { id: "a", n: 1 }, "outbox.b": { id: "b", n: 2 } },
      $min: { outboxDueAt: 11_000 },
    });
  });

  it("no entries: nothing to set and no due time (the write is the caller's alone)", () => {
    expect(outbox.pendingUpdate([], 10_000)).toEqual({ $set: {} });
    expect(outbox.insertFields([], 10_000)).toEqual({ outbox: {} });
  });

  it("an insert carries the entries by id and their due time", () => {
    expect(outbox.insertFields([{ id: "x", n: 3 }], 5_000)).toEqual({
      outbox: { x: { id: "x", n: 3 } },
      outboxDueAt: 6_000,
    });
  });
});
