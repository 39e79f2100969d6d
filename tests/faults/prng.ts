/**
 * The fault suite's randomness, all from one seed (FAULTS_SEED): the bouncer's schedule (order of
 * the faults, the gaps between them, how long a process stays stopped) and the generated readings.
 * Timing still varies between runs (processes take as long as they take), the schedule does not.
 */
import { sleep, percentile as sortedPercentile } from "../../scripts/devices/publisher.ts";

/** mulberry32 (scripts/devices/readings.ts), under the fault suite's name. */
export { seededRandom as prng } from "../../scripts/devices/readings.ts";

/** An integer in [min, max]. */
export const between = (random: () => number, min: number, max: number): number =>
  min + Math.floor(random() * (max - min + 1));

/** A seeded Fisher-Yates shuffle (a copy). */
export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The nearest-rank percentile `p` of `values` (any order), as the device publisher reports them. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sortedPercentile(sorted, p);
}

export { sleep };
