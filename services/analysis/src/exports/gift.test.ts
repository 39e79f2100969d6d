import { describe, expect, it } from "vitest";
import { awkwardQuestions } from "../../test/awkward-questions.ts";
import type { Question } from "../questions/types.ts";
import { escapeGift, toGift } from "./gift.ts";

interface GiftQuestion {
  title: string;
  text: string;
  answers: { right: boolean; text: string }[];
  feedback: string | undefined;
}

const unescapeGift = (s: string) => s.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));

/** Index of the next unescaped `char` from `from`, or -1. */
function findUnescaped(s: string, char: string, from = 0): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s.startsWith(char, i)) return i;
  }
  return -1;
}

/** Splits on unescaped `=` / `~` markers, the way Moodle's GIFT importer reads an answer block. */
function parseAnswers(block: string): { answers: GiftQuestion["answers"]; feedback: string | undefined } {
  const fb = findUnescaped(block, "####");
  const body = fb >= 0 ? block.slice(0, fb) : block;
  const answers: GiftQuestion["answers"] = [];
  let start = -1;
  let right = false;
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "=" || c === "~" || i === body.length) {
      if (start >= 0) answers.push({ right, text: unescapeGift(body.slice(start, i).trim()) });
      right = c === "=";
      start = i + 1;
    }
  }
  return { answers, feedback: fb >= 0 ? unescapeGift(block.slice(fb + 4).trim()) : undefined };
}

/** A small GIFT reader for the subset the exporter writes: titled questions with an answer block. */
function parseGift(gift: string): { category: string | undefined; questions: GiftQuestion[] } {
  let category: string | undefined;
  const questions: GiftQuestion[] = [];
  for (const chunk of gift.split(/\n\s*\n/).map((c) => c.trim())) {
    if (!chunk) continue;
    if (chunk.startsWith("$CATEGORY:")) {
      category = chunk.slice("$CATEGORY:".length).trim();
      continue;
    }
    expect(chunk).not.toContain("\n");
    expect(chunk.startsWith("::")).toBe(true);
    const titleEnd = findUnescaped(chunk, "::", 2);
    const open = findUnescaped(chunk, "{", titleEnd + 2);
    const close = findUnescaped(chunk, "}", open + 1);
    expect(open).toBeGreaterThan(0);
    expect(close).toBe(chunk.length - 1);
    questions.push({
      title: unescapeGift(chunk.slice(2, titleEnd)),
      text: unescapeGift(chunk.slice(titleEnd + 2, open).trim()),
      ...parseAnswers(chunk.slice(open + 1, close)),
    });
  }
  return { category, questions };
}

describe("GIFT export", () => {
  it("escapes ~ = # { } : and backslash, and line breaks as \\n", () => {
    expect(escapeGift("a~b=c#d{e}f:g\\h")).toBe("a\\~b\\=c\\#d\\{e\\}f\\:g\\\\h");
    expect(escapeGift("one\r\ntwo\nthree")).toBe("one\\ntwo\\nthree");
  });

  it("round-trips through a GIFT reader: text, options, the right answer and the explanation survive", () => {
    const { category, questions } = parseGift(toGift(awkwardQuestions, "Hydroponics"));
    expect(category).toBe("$course$/top/Hydroponics");
    expect(questions).toHaveLength(awkwardQuestions.length);
    awkwardQuestions.forEach((source: Question, i) => {
      const q = questions[i] as GiftQuestion;
      expect(q.title).toBe(`Q${i + 1}`);
      expect(q.text).toBe(source.text);
      expect(q.answers.map((a) => a.text)).toEqual(source.options);
      expect(q.answers.filter((a) => a.right).map((a) => a.text)).toEqual([source.answer]);
      expect(q.feedback).toBe(source.explanation.replace(/\r\n/g, "\n"));
    });
  });

  it("writes a multiple-choice answer block with one = and ~ for the others", () => {
    const gift = toGift([awkwardQuestions[0] as Question]);
    expect(gift).toMatch(/^::Q1:: Keep the pH between ___ and 6\.5, "always" — even at 1\\:00 \\\{night\\\}\. \{/);
    const block = gift.slice(gift.lastIndexOf(" {") + 2);
    expect(block.match(/(?<!\\)=/g)).toHaveLength(1);
    expect(block.match(/(?<!\\)~/g)).toHaveLength(3);
  });
});
