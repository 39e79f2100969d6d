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

  it("runs declared phases in their listed order, at their place in the registry", async () => {
    const order: string[] = [];
    const s = new Shutdown(silent, 1_000);
    s.add("database", () => order.push("database"));
    const phases = s.phases(["intake", "drain", "close"]);
    s.add("handlers", () => order.push("handlers"));
    // Added out of order, as features start: the phase decides when a step runs.
    const cache = phases.started("close", "cache", { stop: () => order.push("cache") });
    expect(typeof cache.stop).toBe("function");
    phases.add("intake", "consumer", () => order.push("consumer"));
    phases.add("drain", "ingest", async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push("ingest");
    });
    expect(await s.run("test")).toBe(true);
    expect(order).toEqual(["handlers", "consumer", "ingest", "cache", "database"]);
  });

  it("runs a phase's steps together and the next phase after all of them; a failure is reported, later phases still run", async () => {
    const events: string[] = [];
    const s = new Shutdown(silent, 1_000);
    const phases = s.phases(["first", "second"]);
    const slow = (name: string, ms: number) => async () => {
      events.push(`${name} start`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`${name} end`);
    };
    phases.add("first", "a", slow("a", 20));
    phases.add("first", "b", slow("b", 5));
    phases.add("first", "fails", () => {
      throw new Error("boom");
    });
    phases.add("second", "c", slow("c", 1));
    expect(await s.run("test")).toBe(false);
    expect(events).toEqual(["a start", "b start", "b end", "a end", "c start", "c end"]);
  });

  it("gives up at the deadline", async () => {
    const s = new Shutdown(silent, 50);
    s.add("hangs", () => new Promise(() => {}));
    expect(await s.run("test")).toBe(false);
  });
});
