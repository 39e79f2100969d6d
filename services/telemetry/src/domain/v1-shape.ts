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

/**
 * The same data as `JSON.stringify(v1MonitorData(latest, points))`, character for character,
 * written straight from the points: the all-monitors view writes one of these per monitor, and
 * building the objects first tripled what each monitor allocates. `points` are newest first (as
 * the store reads them); a millisecond that holds several readings shows the value the object
 * form would keep (the last of them in ascending order).
 */
export function v1MonitorJson(
  latest: LatestState,
  newestFirst: readonly StoredPoint[],
  extra?: { owner: string },
): string {
  // A stable sort, as the object form does (not a reverse): ties keep their store order.
  const ascending = [...newestFirst].sort((a, b) => a.at - b.at);
  const parts: string[] = [];
  for (const m of MEASUREMENTS) {
    let history = "";
    let pendingAt: number | undefined;
    let pendingValue = 0;
    const flush = () => {
      if (pendingAt !== undefined) history += `${history ? "," : ""}"${pendingAt}":${JSON.stringify(pendingValue)}`;
    };
    for (const p of ascending) {
      const v = p.values[m];
      if (v === undefined) continue;
      if (p.at !== pendingAt) flush();
      pendingAt = p.at;
      pendingValue = v;
    }
    flush();
    parts.push(
      `${JSON.stringify(m)}:{"value":${JSON.stringify(latest.values[m]?.value ?? null)},"history":{${history}}}`,
    );
  }
  parts.push(
    `"foliage_feed":${JSON.stringify(latest.foliage_feed)}`,
    `"root_stream":${JSON.stringify(latest.root_stream)}`,
  );
  if (extra) parts.push(`"owner":${JSON.stringify(extra.owner)}`);
  return `{${parts.join(",")}}`;
}
