import { randomUUID } from "node:crypto";
import type { Question, TranscriptSegment } from "@trellis/contracts";

/** What a question generator gets: the transcript's timed segments and the keyframes' times. */
export interface QuestionInput {
  analysisId: string;
  videoId: string;
  numQuestions: number;
  segments: readonly TranscriptSegment[];
  keyframes: readonly { id: string; timeMs: number }[];
}

/** A question generator: the real one (`src/questions/`) drops in behind this interface. */
export interface QuestionGenerator {
  generate(input: QuestionInput, signal: AbortSignal): Promise<Question[]>;
}

/** The keyframe nearest a time, or null when there are none. */
export function nearestKeyframe(keyframes: QuestionInput["keyframes"], timeMs: number): string | null {
  let best: { id: string; d: number } | null = null;
  for (const k of keyframes) {
    const d = Math.abs(k.timeMs - timeMs);
    if (!best || d < best.d) best = { id: k.id, d };
  }
  return best?.id ?? null;
}

const WORD = /[\p{L}][\p{L}'-]{4,}/gu;

/**
 * TEMPORARY placeholder, not real NLP: one cloze question per transcript sentence (its longest
 * word blanked out, three other long words of the transcript as distractors), spread evenly over
 * the video. The offline generator of issue 10 item 3 replaces it.
 */
export const placeholderQuestionGenerator: QuestionGenerator = {
  async generate(input, signal) {
    signal.throwIfAborted();
    const sentences = input.segments.flatMap((seg) =>
      seg.text
        .split(/(?<=[.!?])\s+/)
        .map((text) => ({ text: text.trim(), start: seg.start }))
        .filter((s) => (s.text.match(WORD) ?? []).length > 0),
    );
    const vocabulary = [...new Set(input.segments.flatMap((s) => s.text.match(WORD) ?? []))];
    const picked =
      sentences.length <= input.numQuestions
        ? sentences
        : Array.from(
            { length: input.numQuestions },
            (_, i) => sentences[Math.floor((i * sentences.length) / input.numQuestions)] as (typeof sentences)[number],
          );
    return picked.map((s) => {
      const words = s.text.match(WORD) ?? [];
      const answer = words.reduce((a, b) => (b.length > a.length ? b : a));
      const distractors = vocabulary.filter((w) => w.toLowerCase() !== answer.toLowerCase()).slice(0, 3);
      const options = [answer, ...distractors].sort((a, b) => a.localeCompare(b));
      return {
        id: randomUUID(),
        analysisId: input.analysisId,
        videoId: input.videoId,
        text: s.text.replace(answer, "_____"),
        options: options.length >= 2 ? options : [answer, "none of these"],
        answer,
        explanation: s.text,
        timestampMs: s.start,
        keyframeId: nearestKeyframe(input.keyframes, s.start),
      };
    });
  },
};
