import { LiveReading, liveSubjects } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { liveReadingMsgId, liveReadingOf } from "./live-publisher.ts";

const monitorId = "0123456789abcdef0123456789abcdef";

describe("liveReadingOf", () => {
  it("carries the numbers and names the string fields without their content", () => {
    const event = liveReadingOf({
      monitorId,
      seq: 42,
      reading: { at: 1_700_000_000_123, values: { ph: 6.1, reservoir_temp: 19.5 }, foliage_feed: "x".repeat(100_000) },
    });
    expect(event).toEqual({
      monitorId,
      readingSeq: 42,
      at: 1_700_000_000_123,
      values: { ph: 6.1, reservoir_temp: 19.5 },
      strings: ["foliage_feed"],
    });
    expect(LiveReading.parse(event)).toEqual(event);
    expect(JSON.stringify(event).length).toBeLessThan(300);
  });

  it("lists both string fields, and none for a reading of numbers only", () => {
    const both = liveReadingOf({
      monitorId,
      seq: 1,
      reading: { at: 1, values: {}, foliage_feed: "a", root_stream: "b" },
    });
    expect(both.strings).toEqual(["foliage_feed", "root_stream"]);
    expect(liveReadingOf({ monitorId, seq: 2, reading: { at: 1, values: { ph: 7 } } }).strings).toEqual([]);
  });

  it("gives a redelivered reading the same message id (published once) and different readings different ids", () => {
    const r = { monitorId, seq: 7, reading: { at: 1, values: { ph: 7 } } };
    expect(liveReadingMsgId(r)).toBe(liveReadingMsgId({ ...r, reading: { at: 1, values: { ph: 7 } } }));
    expect(liveReadingMsgId(r)).not.toBe(liveReadingMsgId({ ...r, seq: 8 }));
  });
});

describe("liveSubjects", () => {
  it("puts each kind of a monitor's events under the monitor, and reads the kind back", () => {
    expect(liveSubjects.of(monitorId, "reading")).toBe(`telemetry.v1.live.${monitorId}.reading`);
    expect(liveSubjects.monitor(monitorId)).toBe(`telemetry.v1.live.${monitorId}.>`);
    expect(liveSubjects.kindOf(liveSubjects.of(monitorId, "presence"))).toBe("presence");
    expect(liveSubjects.all).toBe("telemetry.v1.live.>");
  });
});
