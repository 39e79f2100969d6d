import type { Question } from "../questions/types.ts";

/**
 * GIFT's special characters escaped with a backslash: `~ = # { } :` and the backslash itself.
 * Line breaks become `\n`, which GIFT reads as a new line, so a question stays on one line.
 */
export function escapeGift(text: string): string {
  return text.replace(/[\\~=#{}:]/g, (c) => `\\${c}`).replace(/\r\n?|\n/g, "\\n");
}

function question(q: Question, i: number): string {
  const title = escapeGift(`Q${i + 1}`);
  const feedback = q.explanation ? ` ####${escapeGift(q.explanation)}` : "";
  if (q.kind === "cloze" && q.options.length === 1) {
    return `::${title}:: ${escapeGift(q.text)} {=${escapeGift(q.answer)}${feedback}}`;
  }
  const options = q.options.map((o) => `${o === q.answer ? "=" : "~"}${escapeGift(o)}`).join(" ");
  return `::${title}:: ${escapeGift(q.text)} {${options}${feedback}}`;
}

/**
 * Questions in Moodle's GIFT format: `::Q1:: text {=right ~wrong ~wrong ####explanation}`, a
 * cloze question as a short answer `{=answer}`, a blank line between questions. A `title` becomes
 * a `$CATEGORY:` line.
 */
export function toGift(questions: readonly Question[], title?: string): string {
  const head = title === undefined ? [] : [`$CATEGORY: $course$/top/${title.replace(/[\r\n]+/g, " ")}`];
  return `${[...head, ...questions.map(question)].join("\n\n")}\n`;
}
