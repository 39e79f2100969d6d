import { MEASUREMENTS, V1MonitorData } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { v1MonitorData } from "./v1-shape.ts";

describe("v1 monitor data", () => {
  it("has every measurement with value and ms-keyed history, and the strings", () => {
    const data = v1MonitorData({ values: { ph: { value: 7, at: 2_000 } }, foliage_feed: "img", root_stream: null }, [
      { at: 2_000, values: { ph: 7 } },
      { at: 1_000, values: { ph: 6, air_flow: 3 } },
    ]);
    expect(V1MonitorData.strict().parse(data)).toEqual(data);
    expect(Object.keys(data).sort()).toEqual([...MEASUREMENTS, "foliage_feed", "root_stream"].sort());
    expect(data.ph).toEqual({ value: 7, history: { "1000": 6, "2000": 7 } });
    expect(data.air_flow).toEqual({ value: null, history: { "1000": 3 } });
    expect(data.soil_moisture).toEqual({ value: null, history: {} });
    expect(data.foliage_feed).toBe("img");
    expect(data.root_stream).toBeNull();
  });
});
