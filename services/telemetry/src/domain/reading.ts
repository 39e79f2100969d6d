import { MEASUREMENTS, type Measurement, Reading } from "@trellis/contracts";
import type { z } from "zod";

/** A reading as the consumer stores it: finite measurement values and the two latest-only strings. */
export interface NormalizedReading {
  at: number;
  values: Partial<Record<Measurement, number>>;
  foliage_feed?: string;
  root_stream?: string;
}

export type ReadingCheck = { ok: true; reading: Reading } | { ok: false; reason: string };

const decoder = new TextDecoder();

/** Zod issues as one human-readable reason: `ph: must be a finite number; Unrecognized key: "x"`. */
export function reasonOf(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/** Validates an already decoded value against the device contract. */
export function checkReading(value: unknown): ReadingCheck {
  const parsed = Reading.safeParse(value);
  return parsed.success ? { ok: true, reading: parsed.data } : { ok: false, reason: reasonOf(parsed.error) };
}

/**
 * Decodes and validates a device message. Note that a JSON number too large for a double (e.g.
 * `1e999`) parses to Infinity and is refused here as not finite.
 */
export function parseReadingBytes(data: Uint8Array): ReadingCheck {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, reason: "payload is not valid JSON" };
  }
  return checkReading(value);
}

/** The stored form: the reading's own timestamp, or when the stream received it. */
export function normalizeReading(reading: Reading, receivedAt: number): NormalizedReading {
  const values: Partial<Record<Measurement, number>> = {};
  for (const m of MEASUREMENTS) {
    const v = reading[m];
    if (v !== undefined) values[m] = v;
  }
  const out: NormalizedReading = { at: reading.timestamp ?? receivedAt, values };
  if (reading.foliage_feed !== undefined) out.foliage_feed = reading.foliage_feed;
  if (reading.root_stream !== undefined) out.root_stream = reading.root_stream;
  return out;
}
