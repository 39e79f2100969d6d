import type { Question } from "../src/questions/types.ts";

/** Questions whose text uses every character the export formats treat specially (tests only). */
export const awkwardQuestions: Question[] = [
  {
    text: 'Keep the pH between ___ and 6.5, "always" — even at 1:00 {night}.',
    options: ["5.5", "7.0 ~ 7.5", "a=b", "#4 \\ back"],
    answer: "5.5",
    explanation: 'Keep the pH between 5.5 and 6.5, "always" — even at 1:00 {night}.',
    timestampMs: 61_500,
    keyframeId: "kf-6",
    kind: "multiple_choice",
  },
  {
    text: "Line one,\nline two: <b>bold</b> & ]]> end with ___",
    options: ["x < y & z", "]]>", 'it\'s "quoted"', "tab\there"],
    answer: "]]>",
    explanation: "Line one,\r\nline two: <b>bold</b> & ]]> end with ]]>",
    timestampMs: 3_723_000,
    keyframeId: null,
    kind: "multiple_choice",
  },
  {
    text: "The word was coined in ___ by William Gericke.",
    options: ["1937"],
    answer: "1937",
    explanation: "The word was coined in 1937 by William Gericke.",
    timestampMs: 15_000,
    keyframeId: "kf-1",
    kind: "cloze",
  },
];
