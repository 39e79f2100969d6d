import { MEASUREMENTS, V1MonitorData } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { type StoredPoint, v1MonitorData, v1MonitorJson } from "./v1-shape.ts";

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

  it("writes the same JSON as the object form, character for character", () => {
    // Newest first, as the store reads them; shared milliseconds, gaps, integers and fractions.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const points: StoredPoint[] = [];
    for (let i = 0; i < 500; i++) {
      const values: StoredPoint["values"] = {};
      for (const m of MEASUREMENTS)
        if (random() < 0.6) values[m] = random() < 0.3 ? Math.round(random() * 100) : random() * 1e3 - 500;
      points.push({ at: 1_700_000_000_000 + Math.floor(i / 3) * 1000, values });
    }
    points.sort((a, b) => b.at - a.at);
    const latest = { values: { ph: { value: 6.5, at: 1 } }, foliage_feed: 'a "quoted" image', root_stream: null };
    expect(v1MonitorJson(latest, points)).toBe(JSON.stringify(v1MonitorData(latest, points)));
    expect(v1MonitorJson(latest, points, { owner: "u-1" })).toBe(
      JSON.stringify({ ...v1MonitorData(latest, points), owner: "u-1" }),
    );
    expect(v1MonitorJson(latest, [])).toBe(JSON.stringify(v1MonitorData(latest, [])));
  });
});
