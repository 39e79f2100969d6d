import type { Question } from "../questions/types.ts";

/** Questions as a JSON document: `{ title?, questions: [...] }`, the fields of {@link Question}. */
export function toJson(questions: readonly Question[], title?: string): string {
  return `${JSON.stringify(title === undefined ? { questions } : { title, questions }, null, 2)}\n`;
}
