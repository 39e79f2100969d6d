import { randomUUID } from "node:crypto";
import type { Question, TranscriptSegment } from "@trellis/contracts";
import type { Logger } from "pino";
import { generateWithFallback } from "../questions/fallback.ts";
import { offlineQuestionGenerator } from "../questions/offline.ts";
import type { Keyframe, QuestionGenerator as TranscriptQuestionGenerator } from "../questions/types.ts";

/** What the questions step gets: the transcript's timed segments and the keyframes. */
export interface QuestionInput {
  analysisId: string;
  videoId: string;
  numQuestions: number;
  segments: readonly TranscriptSegment[];
  keyframes: readonly Keyframe[];
}

/** The questions step of a job: questions of an analysis, ready to store, and who wrote them. */
export interface QuestionGenerator {
  generate(
    input: QuestionInput,
    signal: AbortSignal,
    log: Pick<Logger, "warn">,
  ): Promise<{ generator: string; questions: Question[] }>;
}

/**
 * The questions step over transcript question generators (`src/questions/`), tried in order with
 * the offline one last as the fallback (`generateWithFallback`); it gives each question its id and
 * ties it to the analysis and the video.
 */
export function questionStep(
  preferred: readonly TranscriptQuestionGenerator[] = [],
  fallback: TranscriptQuestionGenerator = offlineQuestionGenerator,
): QuestionGenerator {
  const generators = [...preferred, fallback];
  return {
    async generate(input, signal, log) {
      signal.throwIfAborted();
      const { generator, questions } = await generateWithFallback(
        generators,
        {
          segments: input.segments,
          keyframes: input.keyframes,
          count: input.numQuestions,
        },
        signal,
        log,
      );
      return {
        generator,
        questions: questions.slice(0, input.numQuestions).map((q) => ({
          id: randomUUID(),
          analysisId: input.analysisId,
          videoId: input.videoId,
          kind: q.kind,
          text: q.text,
          options: q.options,
          answer: q.answer,
          explanation: q.explanation,
          timestampMs: q.timestampMs,
          keyframeId: q.keyframeId,
        })),
      };
    },
  };
}
