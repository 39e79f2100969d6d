import { describe, expect, it } from "vitest";
import { maySeeStoredAgain, SettledAckFloor } from "./redelivery.ts";

const fresh = (seq: number) => ({ seq, redelivered: false });

describe("maySeeStoredAgain", () => {
  it("is false for first deliveries above everything acked", () => {
    expect(maySeeStoredAgain([fresh(11), fresh(12)], 10)).toBe(false);
    expect(maySeeStoredAgain([fresh(1)], 0)).toBe(false);
    expect(maySeeStoredAgain([], 10)).toBe(false);
  });

  it("is true when a message is marked redelivered", () => {
    expect(maySeeStoredAgain([fresh(11), { seq: 12, redelivered: true }], 10)).toBe(true);
  });

  it("is true for a first delivery at or below the highest sequence acked (a NATS restart lost the acks)", () => {
    expect(maySeeStoredAgain([fresh(9), fresh(11)], 10)).toBe(true);
    expect(maySeeStoredAgain([fresh(10)], 10)).toBe(true);
  });
});

describe("SettledAckFloor", () => {
  it("answers 0 until a sample is old enough, then the highest old enough", () => {
    const floor = new SettledAckFloor(30_000);
    floor.sample(100, 0);
    floor.sample(250, 10_000);
    expect(floor.value(29_999)).toBe(0);
    expect(floor.value(30_000)).toBe(100);
    floor.sample(400, 35_000);
    expect(floor.value(39_999)).toBe(100);
    expect(floor.value(40_000)).toBe(250);
    expect(floor.value(65_000)).toBe(400);
  });

  it("never goes down, whatever the server reports later", () => {
    const floor = new SettledAckFloor(1_000);
    floor.sample(500, 0);
    floor.sample(0, 100); // a restarted server that lost its consumer state
    expect(floor.value(5_000)).toBe(500);
  });
});
