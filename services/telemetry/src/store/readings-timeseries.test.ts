import { describe, expect, it } from "vitest";
import {
  pointOfTimeSeriesDoc,
  supportsTimeSeries,
  timeSeriesDocOf,
  timeSeriesFilter,
  timeSeriesOptions,
} from "./readings-timeseries.ts";

describe("native time-series layout (MongoDB ≥ 5)", () => {
  it("is chosen from buildInfo: MongoDB 5 and later, never FerretDB", () => {
    expect(supportsTimeSeries({ version: "7.0.14" })).toBe(true);
    expect(supportsTimeSeries({ version: "5.0.0" })).toBe(true);
    expect(supportsTimeSeries({ version: "4.4.29" })).toBe(false);
    // FerretDB answers as a MongoDB 7 but has no time-series collections.
    expect(supportsTimeSeries({ version: "7.0.77", ferretdb: { version: "v1.24.2" } })).toBe(false);
    expect(supportsTimeSeries({ version: "7.0.77", ferretdbVersion: "v1.24.2" })).toBe(false);
    expect(supportsTimeSeries({})).toBe(false);
  });

  it("creates the collection with the monitor as meta field and the time as a date", () => {
    expect(timeSeriesOptions).toEqual({
      timeseries: { timeField: "at", metaField: "monitorId", granularity: "seconds" },
    });
    const doc = timeSeriesDocOf({ monitorId: "m", seq: 7, at: 1_700_000_000_123, values: { ph: 6.1 } });
    expect(doc).toEqual({ at: new Date(1_700_000_000_123), monitorId: "m", seq: 7, values: { ph: 6.1 } });
    expect(pointOfTimeSeriesDoc(doc)).toEqual({ seq: 7, at: 1_700_000_000_123, values: { ph: 6.1 } });
  });

  it("queries windows on the time field with inclusive bounds and an exclusive cursor", () => {
    expect(timeSeriesFilter("m", {})).toEqual({ monitorId: "m" });
    expect(timeSeriesFilter("m", { from: 1, to: 9 }, 4)).toEqual({
      monitorId: "m",
      at: { $gte: new Date(1), $lte: new Date(9), $gt: new Date(4) },
    });
  });
});
