import { Binary, Long, ObjectId } from "mongodb";
import { describe, expect, it } from "vitest";
import { commandShape } from "./tracing.ts";

describe("commandShape (db.query.text of MongoDB spans)", () => {
  it("keeps field names and hides every value", () => {
    const find = {
      find: "monitors",
      filter: { _id: "a1b2", ownerId: { $in: ["u1", "u2"] }, since: new Date() },
      limit: 1,
      lsid: { id: new Binary(Buffer.alloc(16)) },
      txnNumber: Long.fromNumber(4),
      oid: new ObjectId(),
    };
    expect(commandShape(find)).toEqual({
      find: "?",
      filter: { _id: "?", ownerId: { $in: "[2]" }, since: "?" },
      limit: "?",
      lsid: { id: "?" },
      txnNumber: "?",
      oid: "?",
    });
  });

  it("stays small for a bulk write of thousands of statements and for deep or wide documents", () => {
    const updates = Array.from({ length: 5_000 }, (_, i) => ({ q: { _id: i }, u: { $inc: { n: 1 } } }));
    expect(commandShape({ update: "rollups", updates, ordered: false })).toEqual({
      update: "?",
      updates: "[5000]",
      ordered: "?",
    });
    expect(commandShape({ a: { b: { c: { d: 1 } } } })).toEqual({ a: { b: { c: "{…}" } } });
    const wide = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, i]));
    expect(Object.keys(commandShape(wide) as object)).toHaveLength(21);
  });
});
