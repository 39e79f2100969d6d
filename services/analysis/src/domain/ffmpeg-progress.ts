/**
 * Reads ffmpeg's `-progress` output (key=value lines): the media time reached, in ms, from
 * `out_time_us` (or `out_time_ms`, which despite its name is also microseconds). Null for other lines.
 */
export function progressTimeMs(line: string): number | null {
  const m = /^out_time_(?:us|ms)=(\d+)\s*$/.exec(line);
  if (!m?.[1]) return null;
  return Math.floor(Number(m[1]) / 1000);
}

/** The times (ms) of the frames `fps=1/<interval>` takes: frame i (0-based) at i × interval. */
export const keyframeTimeMs = (index: number, intervalSeconds: number): number => index * intervalSeconds * 1000;
