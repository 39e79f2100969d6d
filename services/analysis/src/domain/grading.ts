import type { LearnerQuestion, Question } from "@trellis/contracts";

/**
 * The form two answers are compared in: Unicode-normalised (NFKC), lower case, inner whitespace
 * collapsed, punctuation at either end and a leading article (a, an, the) dropped. "The  Nile." and
 * "nile" are the same answer; "5.5" keeps its inner dot.
 */
export function normalizeAnswer(text: string): string {
  let t = text.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
  t = t.replace(/^[\p{P}\p{S}\s]+|[\p{P}\p{S}\s]+$/gu, "");
  t = t.replace(/^(a|an|the) (?=\S)/, "");
  return t;
}

export type Grading = { ok: true; correct: boolean } | { ok: false; reason: string };

/**
 * Grades an answer. A multiple-choice answer must be one of the options (compared normalised), or
 * it is refused (nothing recorded); a cloze answer is any text, correct when it equals the answer.
 */
export function grade(question: Pick<Question, "kind" | "options" | "answer">, answer: string): Grading {
  const given = normalizeAnswer(answer);
  if (given === "") return { ok: false, reason: "answer has no letters or digits" };
  if (question.kind === "multiple_choice" && !question.options.some((o) => normalizeAnswer(o) === given)) {
    return { ok: false, reason: "answer must be one of the question's options" };
  }
  return { ok: true, correct: given === normalizeAnswer(question.answer) };
}

/** A question without what would give its answer away: the answer, the explanation (its source sentence) and a cloze question's only option. */
export function learnerView(q: Question): LearnerQuestion {
  const { answer: _answer, explanation: _explanation, ...rest } = q;
  return { ...rest, options: q.kind === "cloze" ? [] : q.options };
}

/** correct ÷ questions (unanswered count as wrong); null without questions. */
export const scoreOf = (correct: number, total: number): number | null => (total === 0 ? null : correct / total);
