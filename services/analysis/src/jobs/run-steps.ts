import { mediaCatalog } from "@trellis/contracts";
import { inSpan, request, SpanKind } from "@trellis/runtime";
import { progressAt } from "../domain/progress.ts";
import { CancelledError } from "../errors/cancelled-error.ts";
import type { Keyframe } from "../questions/types.ts";
import { fromServiceError, type StepContext } from "../steps/context.ts";
import { extractKeyframes, type FetchVideo } from "../steps/keyframes.ts";
import type { QuestionGenerator } from "../steps/questions.ts";
import { saveQuestions } from "../steps/save.ts";
import { fetchTranscript } from "../steps/transcript.ts";
import { fetchUrlTranscript, urlVideoFetcher } from "../steps/url-source.ts";

/** What a run that got to the end made. */
export interface StepsDone {
  questionCount: number;
  keyframes: readonly Keyframe[];
  generator: string;
}

/** A span per step (with tracing on), a child of the job's: its calls to media are inside it. */
const step = <T>(name: string, fn: () => Promise<T>): Promise<T> =>
  inSpan(`analysis step ${name}`, { kind: SpanKind.INTERNAL, attributes: { "trellis.analysis.step": name } }, fn);

/** Between steps: an abort (cancel, timeout, shutdown) or a cancel recorded by another instance ends the run. */
async function checkCancel(ctx: StepContext): Promise<void> {
  ctx.signal.throwIfAborted();
  if (await ctx.store.cancelRequested(ctx.job.analysisId)) throw new CancelledError();
}

/** The transcript (and, for a URL, how to fetch its video): from media, or from the URL's origin. */
async function transcriptStep(ctx: StepContext) {
  const data = ctx.job;
  if (data.url) {
    // A URL: captions and media from the origin (yt-dlp), not from media.
    const source = await fetchUrlTranscript(ctx, data.url);
    return { durationMs: source.durationMs, segments: source.segments, fetchVideo: urlVideoFetcher(source.infoFile) };
  }
  let video: Awaited<ReturnType<typeof request<typeof mediaCatalog.getVideo>>>;
  try {
    video = await request(ctx.nc, mediaCatalog.getVideo, { actor: data.actor, videoId: data.videoId });
  } catch (err) {
    throw fromServiceError(err, "video");
  }
  const durationMs = video.durationMs ?? 0;
  return {
    durationMs,
    segments: await fetchTranscript(ctx, durationMs),
    fetchVideo: undefined as FetchVideo | undefined,
  };
}

/**
 * The steps of one analysis, in order: transcript, keyframes, questions, save, with a cancel check
 * between each. Throws on any failure; what the failure means is the worker's (`outcomeOf`).
 */
export async function runSteps(ctx: StepContext, generator: QuestionGenerator): Promise<StepsDone> {
  const { durationMs, segments, fetchVideo } = await step("transcript", () => transcriptStep(ctx));
  await checkCancel(ctx);
  const keyframes = await step("keyframes", () => extractKeyframes(ctx, durationMs, fetchVideo));
  await checkCancel(ctx);
  ctx.report(progressAt("questions", 0));
  const generated = await step("questions", () =>
    generator.generate(
      {
        analysisId: ctx.job.analysisId,
        videoId: ctx.job.videoId,
        numQuestions: ctx.job.numQuestions,
        segments,
        keyframes,
      },
      ctx.signal,
      ctx.log,
    ),
  );
  await checkCancel(ctx);
  await step("save", () => saveQuestions(ctx, generated.questions));
  return { questionCount: generated.questions.length, keyframes, generator: generated.generator };
}
