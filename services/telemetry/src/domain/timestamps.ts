/**
 * Below this, a timestamp is taken to be in seconds: 1e11 ms is March 1973, while 1e11 s is the year
 * 5138. Seed 002 documents `startTime`/`endTime` as "unix timestamps" and its history keys are
 * milliseconds, so old clients send either; both work.
 */
export const SECONDS_THRESHOLD = 1e11;

/** A v1 `startTime`/`endTime` as milliseconds (seconds are multiplied by 1000). */
export function v1TimeToMs(value: number): number {
  return Math.trunc(Math.abs(value) < SECONDS_THRESHOLD ? value * 1000 : value);
}

/** Milliseconds since the epoch from a JetStream message timestamp in nanoseconds. */
export const nanosToMs = (nanos: bigint): number => Number(nanos / 1_000_000n);
