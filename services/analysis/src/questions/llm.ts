import type { TranscriptSegment } from "@trellis/contracts";
import { nearestKeyframe } from "./offline.ts";
import { type GenerateInput, ModelQuestions, type Question } from "./types.ts";

/**
 * The language-model side of question generation, as plain functions: the prompt written from a
 * transcript, and the model's reply checked against the schema (`ModelQuestions`, the one sent as
 * the response format) and against the transcript. The HTTP client is `openai.ts`.
 */

/** A generator's failure with a short reason, logged when the job falls back to another generator. */
export class GeneratorError extends Error {
  override readonly name = "GeneratorError";
}

/** Transcript characters sent to a model at most (~25k tokens); a longer one is cut (and says so). */
export const MAX_PROMPT_TRANSCRIPT_CHARS = 100_000;

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

/** The chat messages asking for `count` questions about the timed transcript. */
export function promptMessages(
  input: Pick<GenerateInput, "segments" | "count">,
  maxChars = MAX_PROMPT_TRANSCRIPT_CHARS,
): { role: "system" | "user"; content: string }[] {
  const lines: string[] = [];
  let used = 0;
  let cut = false;
  for (const s of input.segments) {
    const text = s.text.replace(/\s+/g, " ").trim();
    if (!text) continue;
    const line = `[${s.start}-${s.end}] ${text}`;
    if (used + line.length > maxChars) {
      cut = true;
      break;
    }
    lines.push(line);
    used += line.length + 1;
  }
  const system = [
    "You write quiz questions that check whether a learner understood a video, from its transcript.",
    "Each transcript line is `[startMs-endMs] text`: the time range in milliseconds where the words are spoken.",
    "Rules for every question:",
    "- ask about an important fact stated in the transcript (names, numbers, dates, key terms), never about trivia;",
    '- kind "multiple_choice": `options` holds the correct answer and 3 plausible wrong answers of the same kind, all different;',
    '- kind "cloze": `text` is a transcript sentence with the answer replaced by ___ and `options` holds only the answer;',
    "- `answer` is exactly one of `options`; no two questions have the same answer;",
    "- `explanation` quotes the transcript sentence the answer comes from;",
    "- `timestampMs` is a time inside the range of the line that sentence comes from;",
    "- spread the questions over the whole video, in time order.",
    "Answer with JSON only, following the given schema.",
  ].join("\n");
  const user = [
    `Write ${input.count} question${input.count === 1 ? "" : "s"} about this transcript${cut ? " (its beginning; the rest was cut)" : ""}:`,
    "",
    ...lines,
  ].join("\n");
  return [
    { role: "system", content: system },
    { role: "user", content: user },
  ];
}

const keyOf = (text: string) => text.toLowerCase().replace(/\s+/g, " ").trim();

/** Why one question of a model does not fit the transcript, or null when it does. */
export function transcriptProblem(
  q: Omit<Question, "keyframeId">,
  segments: readonly TranscriptSegment[],
  seenAnswers: ReadonlySet<string>,
): string | null {
  if (!segments.some((s) => q.timestampMs >= s.start && q.timestampMs <= s.end)) {
    return `timestamp ${clock(q.timestampMs)} (${q.timestampMs} ms) is inside no transcript segment`;
  }
  const keys = q.options.map(keyOf);
  if (new Set(keys).size !== keys.length) return "options differ only in case or spacing";
  if (keys.filter((k) => k === keyOf(q.answer)).length !== 1) return "the answer is not exactly one of the options";
  if (q.kind === "multiple_choice" && q.options.length < 2) return "a multiple-choice question with one option";
  if (q.kind === "cloze" && !q.text.includes("___")) return "a cloze question without a ___ blank";
  if (seenAnswers.has(keyOf(q.answer))) return `the answer "${q.answer}" is already another question's`;
  return null;
}

/**
 * A model's reply (the message content) as questions: it must be JSON matching `ModelQuestions`
 * (else the whole reply is rejected); then each question must fit the transcript (a timestamp
 * inside a segment, distinct options, the answer among them, a blank in a cloze, an answer no
 * other question has) or it is dropped. None left → rejected. At most `count`, in video order,
 * each with the keyframe nearest its time.
 */
export function questionsFromReply(
  content: string | null | undefined,
  input: GenerateInput,
): { questions: Question[]; dropped: string[] } {
  if (!content?.trim()) throw new GeneratorError("the model's reply is empty");
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    throw new GeneratorError(`the model's reply is not JSON: ${JSON.stringify(content.slice(0, 80))}`);
  }
  const parsed = ModelQuestions.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "(root)";
    throw new GeneratorError(`the model's reply does not match the schema: ${where}: ${issue?.message}`);
  }
  const dropped: string[] = [];
  const seen = new Set<string>();
  const kept: Question[] = [];
  for (const [i, q] of parsed.data.questions.entries()) {
    const problem = transcriptProblem(q, input.segments, seen);
    if (problem) {
      dropped.push(`question ${i + 1}: ${problem}`);
      continue;
    }
    seen.add(keyOf(q.answer));
    kept.push({ ...q, keyframeId: nearestKeyframe(input.keyframes, q.timestampMs) });
  }
  if (kept.length === 0) {
    throw new GeneratorError(
      parsed.data.questions.length === 0
        ? "the model wrote no questions"
        : `no question of the model fits the transcript (${dropped.slice(0, 3).join("; ")})`,
    );
  }
  kept.sort((a, b) => a.timestampMs - b.timestampMs);
  return { questions: kept.slice(0, input.count), dropped };
}
