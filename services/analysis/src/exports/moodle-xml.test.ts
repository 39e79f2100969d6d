import { readFileSync } from "node:fs";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { awkwardQuestions } from "../../test/awkward-questions.ts";
import { generateOffline } from "../questions/offline.ts";
import { parseTimedTranscript } from "../questions/transcript-input.ts";
import type { Question } from "../questions/types.ts";
import { escapeXml, toMoodleXml } from "./moodle-xml.ts";

interface TextNode {
  text: string;
}
interface MoodleAnswer extends TextNode {
  "@_fraction": string;
  "@_format": string;
}
interface MoodleQuestion {
  "@_type": string;
  name: TextNode;
  questiontext: TextNode & { "@_format": string };
  generalfeedback: TextNode;
  single?: string;
  answer: MoodleAnswer[];
  category?: TextNode;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  isArray: (name) => name === "question" || name === "answer",
});

/** What a browser shows for the HTML in a `format="html"` field. */
const htmlToText = (html: string) =>
  html
    .replace(/^<p>|<\/p>$/g, "")
    .replaceAll("<br>", "\n")
    .replace(
      /&(lt|gt|quot|apos|amp);/g,
      (_, e: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e] ?? "",
    );

function parseQuiz(xml: string): MoodleQuestion[] {
  expect(XMLValidator.validate(xml)).toBe(true);
  const doc = parser.parse(xml) as { quiz: { question: MoodleQuestion[] } };
  return doc.quiz.question;
}

describe("Moodle XML export", () => {
  it("is well-formed, one multichoice question per multiple-choice question with exactly one right answer", () => {
    const questions = parseQuiz(toMoodleXml(awkwardQuestions, "Hydroponics / week 1"));
    expect(questions.map((q) => q["@_type"])).toEqual(["category", "multichoice", "multichoice", "shortanswer"]);
    expect(questions[0]?.category?.text).toBe("$course$/top/Hydroponics - week 1");

    awkwardQuestions.forEach((source, i) => {
      const q = questions[i + 1] as MoodleQuestion;
      expect(q.questiontext["@_format"]).toBe("html");
      expect(htmlToText(q.questiontext.text)).toBe(source.text);
      expect(htmlToText(q.generalfeedback.text)).toBe(source.explanation.replace(/\r\n/g, "\n"));
      if (source.kind === "multiple_choice") {
        expect(q.single).toBe("true");
        expect(q.answer.map((a) => htmlToText(a.text))).toEqual(source.options);
        const right = q.answer.filter((a) => a["@_fraction"] === "100");
        expect(right.map((a) => htmlToText(a.text))).toEqual([source.answer]);
        expect(q.answer.filter((a) => a["@_fraction"] === "0")).toHaveLength(source.options.length - 1);
      } else {
        expect(q.answer).toHaveLength(1);
        expect(q.answer[0]?.["@_fraction"]).toBe("100");
        expect(q.answer[0]?.text).toBe(source.answer);
      }
    });
  });

  it("keeps `]]>` and markup in text from breaking the document", () => {
    const xml = toMoodleXml(awkwardQuestions);
    expect(xml.match(/<!\[CDATA\[/g)?.length).toBe(xml.match(/\]\]>/g)?.length);
    expect(xml).not.toContain("<b>");
  });

  it("drops characters XML cannot hold and escapes the rest", () => {
    expect(escapeXml(`a\u0001b<&>"'`)).toBe("ab&lt;&amp;&gt;&quot;&apos;");
    const q: Question = { ...(awkwardQuestions[0] as Question), text: "bell\u0007 ___" };
    expect(XMLValidator.validate(toMoodleXml([q]))).toBe(true);
  });

  it("writes an empty quiz for no questions", () => {
    const xml = toMoodleXml([]);
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).toContain("<quiz>");
  });

  it("imports the questions generated from the lecture fixture", async () => {
    const vtt = readFileSync(new URL("../../test/fixtures/hydroponics-lecture.vtt", import.meta.url), "utf8");
    const generated = await generateOffline({ segments: parseTimedTranscript(vtt, "vtt"), count: 8 });
    const questions = parseQuiz(toMoodleXml(generated));
    expect(questions).toHaveLength(8);
    questions.forEach((q, i) => {
      const source = generated[i] as Question;
      expect(q["@_type"]).toBe(source.kind === "multiple_choice" ? "multichoice" : "shortanswer");
      expect(htmlToText(q.questiontext.text)).toBe(source.text);
      expect(q.answer.filter((a) => a["@_fraction"] === "100")).toHaveLength(1);
    });
  });
});
