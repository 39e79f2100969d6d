import { describe, expect, it } from "vitest";
import { latestChanges } from "./latest.ts";

describe("latestChanges", () => {
  it("keeps the newest value per field, by measurement time, not arrival", () => {
    const changes = latestChanges({}, [
      { at: 300, values: { ph: 7 } },
      { at: 100, values: { ph: 5, air_flow: 1 } },
      { at: 200, values: { air_flow: 2 }, foliage_feed: "a" },
    ]);
    expect(changes.latest).toEqual({ ph: { value: 7, at: 300 }, air_flow: { value: 2, at: 200 } });
    expect(changes.strings).toEqual({ foliage_feed: { value: "a", at: 200 } });
    expect(changes.lastAt).toBe(300);
  });

  it("never moves a stored value back in time; a tie goes to the later reading", () => {
    const stored = { latest: { ph: { at: 250 }, air_flow: { at: 100 } }, stringsAt: { root_stream: 500 } };
    const changes = latestChanges(stored, [
      { at: 200, values: { ph: 6, air_flow: 3 }, root_stream: "old" },
      { at: 100, values: { air_flow: 4 } },
    ]);
    expect(changes.latest).toEqual({ air_flow: { value: 3, at: 200 } });
    expect(changes.strings).toEqual({});
    const tie = latestChanges(stored, [
      { at: 250, values: { ph: 1 } },
      { at: 250, values: { ph: 2 } },
    ]);
    expect(tie.latest).toEqual({ ph: { value: 2, at: 250 } });
  });
});
