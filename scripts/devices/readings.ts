/**
 * Realistic readings for simulated hydroponic monitors: every monitor has its own set points, a
 * slow drift (a sine with its own period and phase), a mean-reverting random walk on top
 * (Ornstein-Uhlenbeck), sensor noise, and light that follows the time of day.
 */
import type { Measurement } from "@trellis/contracts";

interface Channel {
  /** The monitor's set point for this measurement. */
  mean: number;
  /** Amplitude and period (ms) of the slow drift. */
  drift: number;
  periodMs: number;
  phase: number;
  /** Mean-reverting walk: current offset, how fast it reverts (1/s), its volatility (per √s). */
  walk: number;
  theta: number;
  sigma: number;
  /** White sensor noise (standard deviation). */
  noise: number;
  min: number;
  max: number;
  decimals: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Standard normal sample (Box-Muller). */
function gaussian(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

const round = (v: number, decimals: number) => {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
};

/**
 * mulberry32: a small, fast seeded 32-bit generator; good enough for set points and schedules, not
 * for secrets. Here a monitor's set points depend only on its id; the fault suite's schedule on its seed.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function hash(text: string): number {
  let h = 2_166_136_261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16_777_619);
  return h >>> 0;
}

/** Light in lux-like units 0..1000 for a local time of day: dark at night, a bell around noon. */
export function daylight(at: number): number {
  const hour = ((at - new Date(at).getTimezoneOffset() * MINUTE) % (24 * HOUR)) / HOUR;
  const s = Math.sin((Math.PI * (hour - 6)) / 12);
  return s > 0 ? 1000 * s ** 1.5 : 0;
}

/** A device reading (see `Reading` in @trellis/contracts) with every measurement and a timestamp. */
export type FullReading = Record<Measurement, number> & { timestamp: number };

export interface ReadingGenerator {
  /** The next reading of this monitor, measured at `at` (ms since the epoch). */
  next(at?: number): FullReading;
}

/**
 * The readings of one monitor: all eight measurements, `timestamp` = `at`. Set points derive from
 * the monitor id (stable across runs); the walk and noise use `random` (Math.random by default).
 */
export function readingGenerator(monitorId: string, random: () => number = Math.random): ReadingGenerator {
  const r = seededRandom(hash(monitorId));
  const spread = (center: number, width: number) => center + (r() * 2 - 1) * width;
  const channel = (c: Partial<Channel> & Pick<Channel, "mean" | "min" | "max" | "decimals">): Channel => ({
    drift: 0,
    periodMs: (20 + r() * 40) * MINUTE,
    phase: r() * 2 * Math.PI,
    walk: 0,
    theta: 1 / 120,
    sigma: 0,
    noise: 0,
    ...c,
  });
  const channels: Record<Exclude<Measurement, "light_intensity">, Channel> = {
    atmospheric_temp: channel({
      mean: spread(22, 1.5),
      drift: 2,
      sigma: 0.05,
      noise: 0.1,
      min: 5,
      max: 45,
      decimals: 2,
    }),
    reservoir_temp: channel({
      mean: spread(19, 1),
      drift: 0.8,
      sigma: 0.02,
      noise: 0.05,
      min: 5,
      max: 35,
      decimals: 2,
    }),
    soil_moisture: channel({ mean: spread(45, 8), drift: 6, sigma: 0.1, noise: 0.3, min: 30, max: 60, decimals: 1 }),
    electrical_conductivity: channel({
      mean: spread(1.5, 0.2),
      drift: 0.1,
      sigma: 0.005,
      noise: 0.01,
      min: 0.2,
      max: 4,
      decimals: 3,
    }),
    ph: channel({ mean: spread(6, 0.15), drift: 0.15, sigma: 0.005, noise: 0.02, min: 4.5, max: 8, decimals: 2 }),
    dissolved_oxygen: channel({
      mean: spread(7, 0.5),
      drift: 0.4,
      sigma: 0.01,
      noise: 0.05,
      min: 2,
      max: 12,
      decimals: 2,
    }),
    air_flow: channel({ mean: spread(1.2, 0.2), drift: 0.15, sigma: 0.01, noise: 0.03, min: 0, max: 5, decimals: 2 }),
  };
  const cloudiness = channel({ mean: 0.85, drift: 0.1, sigma: 0.02, min: 0.3, max: 1, decimals: 3 });
  let last: number | undefined;

  const step = (c: Channel, at: number, dtSeconds: number): number => {
    // Exact Ornstein-Uhlenbeck step: stable for any dt, stationary spread sigma / sqrt(2 theta).
    const decay = Math.exp(-c.theta * dtSeconds);
    c.walk = c.walk * decay + c.sigma * Math.sqrt((1 - decay * decay) / (2 * c.theta)) * gaussian(random);
    const v =
      c.mean + c.drift * Math.sin((2 * Math.PI * at) / c.periodMs + c.phase) + c.walk + c.noise * gaussian(random);
    return round(Math.min(c.max, Math.max(c.min, v)), c.decimals);
  };

  return {
    next(at = Date.now()) {
      // Seconds since the previous reading (the walk's step).
      const dt = last === undefined ? 1 : Math.min(86_400, Math.max(0.001, (at - last) / 1000));
      last = at;
      const light = daylight(at) * step(cloudiness, at, dt);
      return {
        atmospheric_temp: step(channels.atmospheric_temp, at, dt),
        reservoir_temp: step(channels.reservoir_temp, at, dt),
        light_intensity: round(Math.min(1000, Math.max(0, light + 5 * gaussian(random))), 1),
        soil_moisture: step(channels.soil_moisture, at, dt),
        electrical_conductivity: step(channels.electrical_conductivity, at, dt),
        ph: step(channels.ph, at, dt),
        dissolved_oxygen: step(channels.dissolved_oxygen, at, dt),
        air_flow: step(channels.air_flow, at, dt),
        timestamp: at,
      };
    },
  };
}
