import type { Question } from "../questions/types.ts";

/** XML 1.0 forbids most control characters even when escaped: they are dropped. */
const stripInvalid = (text: string) => text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "");

/** Text for XML content or a quoted attribute. */
export function escapeXml(text: string): string {
  return stripInvalid(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** `<text>` holding HTML (what Moodle's `format="html"` fields take): the plain text escaped once as HTML, then in CDATA. */
const htmlText = (plain: string) => {
  const html = escapeXml(plain).replace(/\r\n?|\n/g, "<br>");
  // Escaped HTML holds no ">", so no "]]>" can end the section early.
  return `<text><![CDATA[<p>${html}</p>]]></text>`;
};

/** Moodle short answers treat `*` as a wildcard. */
const shortAnswer = (text: string) => `<text>${escapeXml(text.replaceAll("*", "\\*"))}</text>`;

const name = (q: Question, i: number) => {
  const words = q.answer.length > 40 ? `${q.answer.slice(0, 40)}…` : q.answer;
  return `<name><text>${escapeXml(`Q${i + 1} (${words})`)}</text></name>`;
};

function question(q: Question, i: number): string {
  const common = [
    name(q, i),
    `<questiontext format="html">${htmlText(q.text)}</questiontext>`,
    `<generalfeedback format="html">${htmlText(q.explanation)}</generalfeedback>`,
    "<defaultgrade>1</defaultgrade>",
    "<hidden>0</hidden>",
  ];
  if (q.kind === "cloze" && q.options.length === 1) {
    return [
      `<question type="shortanswer">`,
      ...common,
      "<penalty>0.3333333</penalty>",
      "<usecase>0</usecase>",
      `<answer fraction="100" format="moodle_auto_format">${shortAnswer(q.answer)}</answer>`,
      "</question>",
    ].join("\n    ");
  }
  const answers = q.options.map(
    (o) =>
      `<answer fraction="${o === q.answer ? 100 : 0}" format="html">${htmlText(o)}<feedback format="html"><text></text></feedback></answer>`,
  );
  return [
    `<question type="multichoice">`,
    ...common,
    `<penalty>${(1 / Math.max(1, q.options.length - 1)).toFixed(7)}</penalty>`,
    "<single>true</single>",
    "<shuffleanswers>true</shuffleanswers>",
    "<answernumbering>abc</answernumbering>",
    ...answers,
    "</question>",
  ].join("\n    ");
}

/**
 * Questions in Moodle XML (Question bank → Import → Moodle XML format): multiple-choice questions
 * as `multichoice` with one right answer (`fraction="100"`, the others 0, `<single>true</single>`),
 * cloze questions with only their answer as `shortanswer`. A `title` becomes the import category.
 */
export function toMoodleXml(questions: readonly Question[], title?: string): string {
  const category =
    title === undefined
      ? []
      : [
          `<question type="category">\n    <category><text>${escapeXml(`$course$/top/${title.replaceAll("/", "-")}`)}</text></category>\n  </question>`,
        ];
  const body = [...category, ...questions.map(question)].map((q) => `  ${q}`).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n${body}\n</quiz>\n`;
}
