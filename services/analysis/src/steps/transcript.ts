import { mediaCatalog, type TranscriptSegment, TrellisError } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { progressAt } from "../domain/progress.ts";
import { NoTranscriptError } from "../errors/no-transcript-error.ts";
import { fromServiceError, type StepContext } from "./context.ts";

/**
 * The video's transcript from media, as timed segments (plain text becomes one segment over the
 * video). None → the job fails for good (`NoTranscriptError`).
 */
export async function fetchTranscript(ctx: StepContext, durationMs: number): Promise<TranscriptSegment[]> {
  ctx.report(progressAt("transcript", 0));
  let transcript: Awaited<ReturnType<typeof request<typeof mediaCatalog.getTranscript>>>;
  try {
    transcript = await request(ctx.nc, mediaCatalog.getTranscript, { actor: ctx.job.actor, videoId: ctx.job.videoId });
  } catch (err) {
    if (err instanceof TrellisError && err.code === "not_found") throw new NoTranscriptError();
    throw fromServiceError(err, "transcript");
  }
  ctx.signal.throwIfAborted();
  const segments =
    transcript.segments.length > 0 ? transcript.segments : [{ start: 0, end: durationMs, text: transcript.text }];
  if (!segments.some((s) => s.text.trim().length > 0)) throw new NoTranscriptError();
  ctx.report(progressAt("transcript", 1));
  return segments;
}
