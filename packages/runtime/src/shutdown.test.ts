import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Shutdown } from "./shutdown.ts";

const silent = pino({ level: "silent" });

describe("Shutdown", () => {
  it("runs steps in reverse order of registration", async () => {
    const order: string[] = [];
    const s = new Shutdown(silent, 1_000);
    s.add("database", () => order.push("database"));
    s.add("nats", async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push("nats");
    });
    s.add("handlers", () => order.push("handlers"));
    expect(await s.run("test")).toBe(true);
    expect(order).toEqual(["handlers", "nats", "database"]);
  });

  it("runs every step even when one fails, and reports unclean", async () => {
    const ran: string[] = [];
    const s = new Shutdown(silent, 1_000);
    s.add("a", () => ran.push("a"));
    s.add("b", () => {
      throw new Error("boom");
    });
    s.add("c", () => ran.push("c"));
    expect(await s.run("test")).toBe(false);
    expect(ran).toEqual(["c", "a"]);
  });

  it("is idempotent: a second run does not repeat steps", async () => {
    let count = 0;
    const s = new Shutdown(silent, 1_000);
    s.add("count", () => count++);
    const [first, second] = await Promise.all([s.run("one"), s.run("two")]);
    expect(first).toBe(true);
    expect(second).toBe(true);
    await s.run("three");
    expect(count).toBe(1);
    expect(s.started).toBe(true);
  });

  it("gives up at the deadline", async () => {
    const s = new Shutdown(silent, 50);
    s.add("hangs", () => new Promise(() => {}));
    expect(await s.run("test")).toBe(false);
  });
});
