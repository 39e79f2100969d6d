import { z } from "zod";

/** A timed piece of transcript, times in ms (the shape of media's `TranscriptSegment`). */
export interface TimedSegment {
  start: number;
  end: number;
  text: string;
}

/** A keyframe of the analysed video: its id (in media) and when it was taken. */
export interface KeyframeRef {
  id: string;
  atMs: number;
}

/** What a question generator is given. */
export interface GenerateInput {
  segments: readonly TimedSegment[];
  keyframes?: readonly KeyframeRef[];
  /** How many questions are wanted; a generator may return fewer, never more. */
  count: number;
}

export const QuestionKind = z.enum(["cloze", "multiple_choice"]);
export type QuestionKind = z.infer<typeof QuestionKind>;

/**
 * A generated question. `cloze` is a sentence with a `___` blank whose options are only the answer
 * (typed in); `multiple_choice` offers the answer among distractors. Shared by every generator: the
 * output of a language model is validated against this schema too.
 */
export const Question = z
  .object({
    text: z.string().min(1),
    options: z.array(z.string().min(1)).min(1),
    answer: z.string().min(1),
    /** The transcript sentence the question was made from. */
    explanation: z.string(),
    timestampMs: z.number().int().nonnegative(),
    keyframeId: z.string().nullable(),
    kind: QuestionKind,
  })
  .superRefine((q, ctx) => {
    if (new Set(q.options).size !== q.options.length) {
      ctx.addIssue({ code: "custom", path: ["options"], message: "options must be distinct" });
    }
    if (!q.options.includes(q.answer)) {
      ctx.addIssue({ code: "custom", path: ["answer"], message: "answer must be one of the options" });
    }
    if (q.kind === "multiple_choice" && q.options.length < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["options"],
        message: "a multiple-choice question needs 2 options or more",
      });
    }
  });
export type Question = z.infer<typeof Question>;

/** Writes questions about a transcript. The analysis job calls it; implementations are pluggable. */
export interface QuestionGenerator {
  generate(input: GenerateInput, signal?: AbortSignal): Promise<Question[]>;
}
