import { plainCueText, type TranscriptFormat, type TranscriptSegment, TrellisError } from "@trellis/contracts";
import webvtt from "webvtt-parser";

const parser = new webvtt.WebVTTParser();

/** Line ends as `\n`, without a byte-order mark. */
const normalize = (text: string) => text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");

const SRT_TIMING = /^\s*\d+\s*\n\s*\d{1,2}:\d{2}:\d{2},\d{3}\s*-->/;

/** The format a transcript's text is written in: a `WEBVTT` header, SRT's numbered timed cues, else plain text. */
export function recogniseFormat(text: string): TranscriptFormat {
  const t = normalize(text).trimStart();
  if (/^WEBVTT(?:[ \t\n]|$)/.test(t)) return "vtt";
  if (SRT_TIMING.test(t)) return "srt";
  return "text";
}

/**
 * SubRip as WebVTT: the WEBVTT header and `.` for the `,` of the timing lines (the counters are
 * valid cue identifiers). Two lines are added before the first, which error lines account for.
 */
function srtAsVtt(text: string): string {
  const body = normalize(text)
    .split("\n")
    .map((line) => (line.includes("-->") ? line.replace(/(\d{2}:\d{2}:\d{2}),(\d{3})/g, "$1.$2") : line))
    .join("\n");
  return `WEBVTT\n\n${body}`;
}

/**
 * Validates a WebVTT or SRT transcript with webvtt-parser (a validator of the W3C syntax that
 * reports each error with its line) and returns its cues as segments in ms, their text plain
 * ({@link plainCueText}: markup dropped, character references decoded). Any error is an
 * `invalid_argument` naming the first wrong line, counted in the text as it was sent. Plain text
 * has no timing: no segments. The transcript is stored as it was sent and read through this on
 * every read, so transcripts stored before cue text was made plain read plain too.
 */
export function parseTranscript(text: string, format: TranscriptFormat): TranscriptSegment[] {
  if (format === "text") return [];
  const vtt = format === "vtt" ? normalize(text) : srtAsVtt(text);
  const offset = format === "srt" ? 2 : 0;
  const { cues, errors } = parser.parse(vtt, "metadata");
  const [first] = errors;
  if (first) {
    const line = Math.max(1, first.line - offset);
    throw new TrellisError(
      "invalid_argument",
      `invalid ${format === "vtt" ? "WebVTT" : "SRT"} transcript: line ${line}: ${first.message}`,
    );
  }
  return cues.map((c) => ({
    start: Math.round(c.startTime * 1000),
    end: Math.round(c.endTime * 1000),
    text: plainCueText(c.text),
  }));
}

const stamp = (ms: number) => {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
};

/** Plain text as WebVTT cue text: `&`, `<` and `>` escaped (so no `-->` either, which a cue cannot hold). */
const vttCueText = (plain: string) => plain.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/**
 * A transcript as WebVTT: WebVTT as it was stored; SRT as its segments' plain text (SRT's `<font>`,
 * `{\an8}` and bare `&` or `<` are not WebVTT); plain text as one cue over the whole video (its
 * duration when known, else 24 hours), without blank lines.
 */
export function toWebVtt(text: string, format: TranscriptFormat, durationMs: number | null): string {
  if (format === "vtt") return normalize(text);
  if (format === "srt") {
    const cues = parseTranscript(text, "srt").map(
      (s) => `${stamp(s.start)} --> ${stamp(s.end)}\n${vttCueText(s.text)}\n`,
    );
    return ["WEBVTT\n", ...cues].join("\n");
  }
  const cue = normalize(text)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .join("\n");
  return `WEBVTT\n\n${stamp(0)} --> ${stamp(durationMs && durationMs > 0 ? durationMs : 86_400_000)}\n${vttCueText(cue)}\n`;
}
