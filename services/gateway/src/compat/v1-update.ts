import { MAX_STRING_FIELD_BYTES, MEASUREMENTS, type Reading, STRING_FIELDS, TrellisError } from "@trellis/contracts";

/** What the original server made of a `monitors/update` body: the reading to store and the fields it skipped. */
export interface V1Update {
  reading: Reading;
  /** Fields present with a value of the wrong type (for the log; the client is not told, as before). */
  skipped: string[];
}

/** `null` and `""` mean "not measured" to existing clients: ignored, not skipped. */
const absent = (v: unknown) => v === undefined || v === null || v === "";

/**
 * Seed 002 `monitors/update`, with the original's rules: only the ten known fields count (other
 * keys are ignored), `null` and `""` are ignored, a finite number (integer or not) is a
 * measurement, a non-empty string is a camera field, and a value of another type is skipped
 * without failing the rest. Nothing left to store is the seed's 400. A camera field over the size
 * limit is a 413 (it is not of the wrong type, and dropping an image silently would lose data).
 */
export function readingFromV1Update(body: Readonly<Record<string, unknown>>): V1Update {
  const reading: Record<string, number | string> = {};
  const skipped: string[] = [];
  for (const key of MEASUREMENTS) {
    const v = body[key];
    if (absent(v)) continue;
    if (typeof v === "number" && Number.isFinite(v)) reading[key] = v;
    else skipped.push(key);
  }
  for (const key of STRING_FIELDS) {
    const v = body[key];
    if (absent(v)) continue;
    if (typeof v !== "string") {
      skipped.push(key);
      continue;
    }
    if (v.length > MAX_STRING_FIELD_BYTES) {
      throw new TrellisError("payload_too_large", `${key} is larger than ${MAX_STRING_FIELD_BYTES} bytes`);
    }
    reading[key] = v;
  }
  if (Object.keys(reading).length === 0) {
    throw new TrellisError("invalid_argument", "no measurements could be updated");
  }
  return { reading: reading as Reading, skipped };
}
