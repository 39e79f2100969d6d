import type { TranscriptSegment } from "@trellis/contracts";
import { plainCueText } from "@trellis/contracts";
import webvtt from "webvtt-parser";

export type TranscriptFileFormat = "vtt" | "srt" | "text";

const parser = new webvtt.WebVTTParser();

/** Line ends as `\n`, without a byte-order mark. */
const normalize = (text: string) => text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");

/** The format of a transcript file, from its name and else its first lines. */
export function formatOf(fileName: string, content: string): TranscriptFileFormat {
  const ext = fileName.toLowerCase().split(".").pop();
  if (ext === "vtt") return "vtt";
  if (ext === "srt") return "srt";
  const head = normalize(content).trimStart();
  if (/^WEBVTT(?:[ \t\n]|$)/.test(head)) return "vtt";
  if (/^\d+\s*\n\s*\d{1,2}:\d{2}:\d{2},\d{3}\s*-->/.test(head)) return "srt";
  return "text";
}

/**
 * The cues of a WebVTT or SRT transcript as segments in ms, with plain cue text. Lenient: cues that
 * webvtt-parser could read are kept even when it reports errors elsewhere (media validates
 * transcripts on upload; this side only reads them). Cues without words are dropped.
 */
export function parseTimedTranscript(content: string, format: "vtt" | "srt"): TranscriptSegment[] {
  const text = normalize(content);
  const vtt =
    format === "vtt"
      ? text
      : `WEBVTT\n\n${text
          .split("\n")
          .map((line) => (line.includes("-->") ? line.replace(/(\d{1,2}:\d{2}:\d{2}),(\d{3})/g, "$1.$2") : line))
          .join("\n")}`;
  const { cues } = parser.parse(vtt, "metadata");
  return cues
    .map((c) => ({
      start: Math.round(c.startTime * 1000),
      end: Math.round(c.endTime * 1000),
      text: plainCueText(c.text).replaceAll("\n", " "),
    }))
    .filter((s) => s.text.length > 0 && s.end >= s.start);
}

/** Speaking rate used to place untimed text on a timeline (words per minute). */
export const DEFAULT_WORDS_PER_MINUTE = 150;

/**
 * Plain text without timing as segments, one per paragraph, placed on a timeline by position: each
 * word takes the same time, from `durationMs` when the video's length is known, else at
 * {@link DEFAULT_WORDS_PER_MINUTE}.
 */
export function segmentsFromPlainText(content: string, durationMs?: number): TranscriptSegment[] {
  const paragraphs = normalize(content)
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, " ").trim())
    .filter((p) => p.length > 0);
  const words = paragraphs.map((p) => p.split(" ").length);
  const total = words.reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const msPerWord = durationMs !== undefined && durationMs > 0 ? durationMs / total : 60_000 / DEFAULT_WORDS_PER_MINUTE;
  const segments: TranscriptSegment[] = [];
  let done = 0;
  paragraphs.forEach((text, i) => {
    const n = words[i] ?? 0;
    segments.push({ start: Math.round(done * msPerWord), end: Math.round((done + n) * msPerWord), text });
    done += n;
  });
  return segments;
}

/** Any transcript file (WebVTT, SRT or plain text) as timed segments. */
export function segmentsFromFile(fileName: string, content: string): TranscriptSegment[] {
  const format = formatOf(fileName, content);
  return format === "text" ? segmentsFromPlainText(content) : parseTimedTranscript(content, format);
}
