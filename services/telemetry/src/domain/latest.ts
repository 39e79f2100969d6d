import { type Measurement, STRING_FIELDS, type StringField } from "@trellis/contracts";
import type { NormalizedReading } from "./reading.ts";

export interface Timed<T> {
  value: T;
  at: number;
}

/** When the stored latest values were measured (ms), per field. */
export interface StoredLatest {
  latest?: Partial<Record<Measurement, { at: number }>>;
  stringsAt?: Partial<Record<StringField, number>>;
}

/** What a round of readings changes in a monitor's latest state. */
export interface LatestChanges {
  latest: Partial<Record<Measurement, Timed<number>>>;
  strings: Partial<Record<StringField, Timed<string>>>;
  /** Newest measurement time of the round (ms). */
  lastAt: number;
}

/**
 * The newest value of each field among `readings` that is at least as new as the stored one.
 * Readings may arrive out of time order (device clocks, retries, two instances), so a latest value
 * only moves forward in measurement time; on a tie the later reading in stream order wins.
 */
export function latestChanges(stored: StoredLatest, readings: readonly NormalizedReading[]): LatestChanges {
  const latest: Partial<Record<Measurement, Timed<number>>> = {};
  const strings: Partial<Record<StringField, Timed<string>>> = {};
  let lastAt = Number.NEGATIVE_INFINITY;
  for (const r of readings) {
    if (r.at > lastAt) lastAt = r.at;
    for (const m in r.values) {
      const field = m as Measurement;
      const value = r.values[field] as number;
      const best = latest[field]?.at ?? stored.latest?.[field]?.at ?? Number.NEGATIVE_INFINITY;
      if (r.at >= best) latest[field] = { value, at: r.at };
    }
    for (const field of STRING_FIELDS) {
      const value = r[field];
      if (value === undefined) continue;
      const best = strings[field]?.at ?? stored.stringsAt?.[field] ?? Number.NEGATIVE_INFINITY;
      if (r.at >= best) strings[field] = { value, at: r.at };
    }
  }
  return { latest, strings, lastAt };
}
