import { MEASUREMENTS, type Measurement, type V1MonitorData } from "@trellis/contracts";

/** The latest state of a monitor: per measurement, and the two strings. */
export interface LatestState {
  values: Partial<Record<Measurement, { value: number; at: number }>>;
  foliage_feed: string | null;
  root_stream: string | null;
}

export interface StoredPoint {
  at: number;
  values: Partial<Record<Measurement, number>>;
}

/**
 * Seed 002 `monitors/get` data of one monitor: each measurement's current value (null when none
 * is stored) and its history keyed by millisecond timestamps as strings; the latest strings.
 */
export function v1MonitorData(latest: LatestState, points: readonly StoredPoint[]): V1MonitorData {
  const ordered = [...points].sort((a, b) => a.at - b.at);
  const data = {} as Record<Measurement, { value: number | null; history: Record<string, number> }>;
  for (const m of MEASUREMENTS) {
    const history: Record<string, number> = {};
    for (const p of ordered) {
      const v = p.values[m];
      if (v !== undefined) history[String(p.at)] = v;
    }
    data[m] = { value: latest.values[m]?.value ?? null, history };
  }
  return { ...data, foliage_feed: latest.foliage_feed, root_stream: latest.root_stream };
}
