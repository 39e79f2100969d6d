import { describe, expect, it } from "vitest";
import { exportFilename, exportQuestions } from "./export.ts";

const analysis = { id: "4f8a2c1e-0000-4000-8000-000000000000", title: 'Hydroponics 101: the "basics"' };
const question = {
  id: "5f8a2c1e-0000-4000-8000-000000000000",
  analysisId: analysis.id,
  videoId: "6f8a2c1e-0000-4000-8000-000000000000",
  kind: "multiple_choice" as const,
  text: "Who coined the word hydroponics?",
  options: ["William Gericke", "Julius Sachs"],
  answer: "William Gericke",
  explanation: "In 1937 William Gericke coined the word hydroponics.",
  timestampMs: 2000,
  keyframeId: null,
};

describe("exportQuestions", () => {
  it("names the file after the title, safely", () => {
    expect(exportFilename(analysis, "csv")).toBe("hydroponics-101-the-basics-questions.csv");
    expect(exportFilename({ ...analysis, title: "«»" }, "csv")).toBe(`${analysis.id}-questions.csv`);
  });

  it("writes JSON, CSV, Moodle XML and GIFT with their media types", () => {
    const json = exportQuestions(analysis, [question], "json");
    expect(json.contentType).toMatch(/^application\/json/);
    expect(json.filename).toBe("hydroponics-101-the-basics-questions.json");
    expect(JSON.parse(json.text)).toEqual({ title: analysis.title, questions: [question] });
    const csv = exportQuestions(analysis, [question], "csv");
    expect(csv.contentType).toMatch(/^text\/csv/);
    expect(csv.text).toContain("William Gericke");
    const xml = exportQuestions(analysis, [question], "moodle");
    expect(xml.contentType).toMatch(/^application\/xml/);
    expect(xml.text).toContain("<quiz>");
    const gift = exportQuestions(analysis, [question], "gift");
    expect(gift.filename.endsWith(".gift.txt")).toBe(true);
    expect(gift.text).toContain("=William Gericke");
  });
});
