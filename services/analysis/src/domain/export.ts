import type { Analysis, Question, QuestionsExportFormat } from "@trellis/contracts";
import { toCsv } from "../exports/csv.ts";
import { toGift } from "../exports/gift.ts";
import { toJson } from "../exports/json.ts";
import { toMoodleXml } from "../exports/moodle-xml.ts";

/** A filename safe in a `Content-Disposition` header: the title's letters and digits, else the id. */
export function exportFilename(analysis: Pick<Analysis, "id" | "title">, extension: string): string {
  const base = analysis.title
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80)
    .toLowerCase();
  return `${base || analysis.id}-questions.${extension}`;
}

/** The questions of an analysis as a file for an LMS. */
export function exportQuestions(
  analysis: Pick<Analysis, "id" | "title">,
  questions: readonly Question[],
  format: QuestionsExportFormat,
): { contentType: string; filename: string; text: string } {
  switch (format) {
    case "json":
      return {
        contentType: "application/json; charset=utf-8",
        filename: exportFilename(analysis, "json"),
        text: toJson(questions, analysis.title),
      };
    case "csv":
      return {
        contentType: "text/csv; charset=utf-8",
        filename: exportFilename(analysis, "csv"),
        text: toCsv(questions),
      };
    case "moodle":
      return {
        contentType: "application/xml; charset=utf-8",
        filename: exportFilename(analysis, "xml"),
        text: toMoodleXml(questions, analysis.title),
      };
    case "gift":
      return {
        contentType: "text/plain; charset=utf-8",
        filename: exportFilename(analysis, "gift.txt"),
        text: toGift(questions, analysis.title),
      };
  }
}
