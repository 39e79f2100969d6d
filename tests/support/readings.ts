import type { Db } from "mongodb";

/**
 * Readings stored for these monitors, as telemetry stores them on FerretDB (buckets, see
 * services/telemetry/src/domain/buckets.ts): `physical` counts a reading stored twice twice,
 * `distinct` counts each stream sequence once (what every API read answers). "Stored exactly
 * once" is `physical === distinct === acked`.
 */
export async function storedReadings(
  db: Db,
  monitorIds: readonly string[],
): Promise<{ physical: number; distinct: number }> {
  const docs = await db
    .collection<{ monitorId: string; seq: number[] }>("reading_buckets")
    .find({ monitorId: { $in: [...monitorIds] } }, { projection: { monitorId: 1, seq: 1 } })
    .toArray();
  const distinct = new Set<string>();
  let physical = 0;
  for (const d of docs) {
    physical += d.seq.length;
    for (const s of d.seq) distinct.add(`${d.monitorId}:${s}`);
  }
  return { physical, distinct: distinct.size };
}
