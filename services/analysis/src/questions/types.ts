import { Question as StoredQuestion, type TranscriptSegment } from "@trellis/contracts";
import { z } from "zod";

/** A keyframe of the analysed video: its picture's id (in media) and when it was taken (ms). */
export interface Keyframe {
  id: string;
  atMs: number;
}

/** What a question generator is given: the transcript's timed segments (media's shape) and the keyframes. */
export interface GenerateInput {
  segments: readonly TranscriptSegment[];
  keyframes?: readonly Keyframe[];
  /** How many questions are wanted; a generator may return fewer, never more. */
  count: number;
}

export const QuestionKind = StoredQuestion.shape.kind;
export type QuestionKind = z.infer<typeof QuestionKind>;

/**
 * The fields every generator writes: the contracts' `Question` fields (its ids aside), with no
 * empty text where a learner reads it. `keyframeId` is added by the generator from the keyframes.
 */
const { text, answer, explanation, timestampMs, kind } = StoredQuestion.shape;
const questionFields = {
  text: text.min(1),
  options: z.array(answer.min(1)).min(1),
  answer: answer.min(1),
  /** The transcript sentence the question was made from. */
  explanation,
  timestampMs,
  kind,
};

/** Rules a question obeys whoever wrote it (zod cannot express them in the JSON schema). */
function questionRules(
  q: { options: string[]; answer: string; kind: QuestionKind },
  ctx: z.core.$RefinementCtx<unknown>,
): void {
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
}

/**
 * A generated question. `cloze` is a sentence with a `___` blank whose options are only the answer
 * (typed in); `multiple_choice` offers the answer among distractors. Shared by every generator: the
 * output of a language model is validated against the same fields and rules (`ModelQuestions`).
 */
export const Question = z.object({ ...questionFields, keyframeId: z.string().nullable() }).superRefine(questionRules);
export type Question = z.infer<typeof Question>;

/** At most this many questions are asked of a language model (the job's `num_questions` bound). */
export const MAX_MODEL_QUESTIONS = 50;

/**
 * What a language model answers: the questions' fields and rules of `Question` without the
 * keyframe (the generator picks the keyframe nearest each timestamp). Its JSON schema
 * (`modelQuestionsJsonSchema`) is the `response_format` sent to the model, and the reply is parsed
 * with it, so the two cannot drift apart.
 */
export const ModelQuestions = z.object({
  questions: z.array(z.object(questionFields).superRefine(questionRules)).max(MAX_MODEL_QUESTIONS),
});
export type ModelQuestions = z.infer<typeof ModelQuestions>;

/** `ModelQuestions` as a JSON schema (closed objects, every field required: what strict mode wants). */
export function modelQuestionsJsonSchema(): Record<string, unknown> {
  const { $schema: _, ...schema } = z.toJSONSchema(ModelQuestions, { io: "output" }) as Record<string, unknown>;
  return schema;
}

/** Writes questions about a transcript. The analysis job calls it; implementations are pluggable. */
export interface QuestionGenerator {
  /** What the analysis records as its questions' source: `offline` or `llm:<model>`. */
  readonly name: string;
  generate(input: GenerateInput, signal?: AbortSignal): Promise<Question[]>;
}
