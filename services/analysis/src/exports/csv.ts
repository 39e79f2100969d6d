import type { Question } from "../questions/types.ts";

/** RFC 4180: a field with a comma, quote, line break or edge space is quoted, its quotes doubled. */
export function csvField(value: string | number | null): string {
  const text = value === null ? "" : String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** `mm:ss` or `h:mm:ss`, for people reading the sheet. */
export function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}` : `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/**
 * Questions as CSV with a header row, one question a row, CRLF line ends: number, kind, question,
 * answer, one column per option (as many as the longest question has), explanation, timestamp in ms
 * and as a clock, keyframe id.
 */
export function toCsv(questions: readonly Question[]): string {
  const optionColumns = Math.max(1, ...questions.map((q) => q.options.length));
  const header = [
    "number",
    "kind",
    "question",
    "answer",
    ...Array.from({ length: optionColumns }, (_, i) => `option_${i + 1}`),
    "explanation",
    "timestamp_ms",
    "timestamp",
    "keyframe_id",
  ];
  const rows = questions.map((q, i) => [
    i + 1,
    q.kind,
    q.text,
    q.answer,
    ...Array.from({ length: optionColumns }, (_, k) => q.options[k] ?? ""),
    q.explanation,
    q.timestampMs,
    clock(q.timestampMs),
    q.keyframeId,
  ]);
  return [header, ...rows].map((row) => `${row.map(csvField).join(",")}\r\n`).join("");
}
