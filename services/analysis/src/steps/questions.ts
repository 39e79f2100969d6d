import { randomUUID } from "node:crypto";
import type { Question, TranscriptSegment } from "@trellis/contracts";
import { offlineQuestionGenerator } from "../questions/offline.ts";
import type { QuestionGenerator as TranscriptQuestionGenerator } from "../questions/types.ts";

/** What the questions step gets: the transcript's timed segments and the keyframes' times. */
export interface QuestionInput {
  analysisId: string;
  videoId: string;
  numQuestions: number;
  segments: readonly TranscriptSegment[];
  keyframes: readonly { id: string; timeMs: number }[];
}

/** The questions step of a job: questions of an analysis, ready to store. */
export interface QuestionGenerator {
  generate(input: QuestionInput, signal: AbortSignal): Promise<Question[]>;
}

/**
 * The questions step over a transcript question generator (`src/questions/`: the offline one by
 * default): it gives each question its id and ties it to the analysis and the video.
 */
export function questionStep(generator: TranscriptQuestionGenerator = offlineQuestionGenerator): QuestionGenerator {
  return {
    async generate(input, signal) {
      signal.throwIfAborted();
      const questions = await generator.generate(
        {
          segments: input.segments,
          keyframes: input.keyframes.map((k) => ({ id: k.id, atMs: k.timeMs })),
          count: input.numQuestions,
        },
        signal,
      );
      return questions.slice(0, input.numQuestions).map((q) => ({
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
      }));
    },
  };
}
