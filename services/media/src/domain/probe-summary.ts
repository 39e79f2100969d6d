/** What media records of a video from ffprobe's report. */
export interface VideoProbe {
  durationMs: number | null;
  width: number | null;
  height: number | null;
  codec: string | null;
}

export const UNKNOWN_PROBE: VideoProbe = { durationMs: null, width: null, height: null, codec: null };

const positiveInt = (v: unknown): number | null => {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : null;
};

/**
 * Reads `ffprobe -print_format json -show_format -show_streams` output: the container's duration
 * (else the first video stream's), and the first video stream's dimensions and codec. Anything
 * missing or malformed is null, never a failure: a video ffprobe cannot read is still stored.
 */
export function summarizeProbe(report: unknown): VideoProbe {
  if (typeof report !== "object" || report === null) return UNKNOWN_PROBE;
  const r = report as { format?: { duration?: unknown }; streams?: unknown };
  const streams = Array.isArray(r.streams) ? (r.streams as Record<string, unknown>[]) : [];
  const video =
    streams.find(
      (s) => s && s.codec_type === "video" && s.disposition && !(s.disposition as Record<string, unknown>).attached_pic,
    ) ?? streams.find((s) => s && s.codec_type === "video");
  const seconds = Number(r.format?.duration ?? video?.duration);
  return {
    durationMs: Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : null,
    width: positiveInt(video?.width),
    height: positiveInt(video?.height),
    codec: typeof video?.codec_name === "string" && video.codec_name.length <= 64 ? video.codec_name : null,
  };
}
