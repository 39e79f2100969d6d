import type { Db } from "mongodb";
import { BucketReadingsStore } from "./reading-buckets.ts";
import type { ReadingsStore } from "./readings.ts";
import { supportsTimeSeries, TimeSeriesReadingsStore } from "./readings-timeseries.ts";

export type ReadingsLayoutSetting = "auto" | "buckets" | "timeseries";

/**
 * The readings layout for this server: native time-series collections where the server has them
 * (MongoDB ≥ 5), detected from `buildInfo`; buckets otherwise (FerretDB). `READINGS_LAYOUT`
 * overrides the detection.
 */
export async function openReadingsStore(db: Db, setting: ReadingsLayoutSetting = "auto"): Promise<ReadingsStore> {
  let layout = setting;
  if (layout === "auto") {
    const info = await db.admin().command({ buildInfo: 1 });
    layout = supportsTimeSeries(info) ? "timeseries" : "buckets";
  }
  return layout === "timeseries" ? new TimeSeriesReadingsStore(db) : new BucketReadingsStore(db);
}
