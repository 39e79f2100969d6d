import type { Measurement } from "@trellis/contracts";
import { chooseResolution, type Resolution, type RetentionWindows, sourceRanges } from "../domain/downsample.ts";
import type { PiecesByMeasurement, RollupTiersStore } from "../store/rollup-tiers.ts";

/**
 * The rollup pieces a series over `[from, to]` in buckets of `sizeMs` is built from: at the
 * finest resolution that fits the buckets and whose retention still covers `from`
 * (`chooseResolution`), coarse pieces where they exist and finer ones after the monitor's
 * downsampling watermark (`sourceRanges`). Every resolution merges the same way, so `bucketsOf`
 * combines any of them.
 */
export async function seriesPieces(
  tiers: RollupTiersStore,
  windows: RetentionWindows,
  monitorId: string,
  measurements: readonly Measurement[],
  from: number,
  to: number,
  sizeMs: number,
): Promise<{ resolution: Resolution; pieces: PiecesByMeasurement }> {
  const resolution = chooseResolution(from, sizeMs, Date.now(), windows);
  const hoursDone = resolution === "minute" ? null : await tiers.hoursDone(monitorId);
  const pieces: PiecesByMeasurement = new Map(measurements.map((m) => [m, []]));
  for (const range of sourceRanges(resolution, from, to, hoursDone)) {
    await tiers.piecesOf(range.resolution, monitorId, measurements, range.from, range.to, pieces);
  }
  return { resolution, pieces };
}
