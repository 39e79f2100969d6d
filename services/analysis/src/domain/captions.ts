import type { TranscriptSegment } from "@trellis/contracts";
import { plainCueText } from "@trellis/contracts";
import webvtt from "webvtt-parser";

const parser = new webvtt.WebVTTParser();

/** One caption track yt-dlp knows of (an entry of its `subtitles` / `automatic_captions` lists). */
export interface CaptionFormat {
  ext?: string;
  url?: string;
  name?: string;
}
/** The part of yt-dlp's `--dump-json` info the transcript step reads. */
export interface CaptionInfo {
  subtitles?: Record<string, CaptionFormat[] | undefined> | null;
  automatic_captions?: Record<string, CaptionFormat[] | undefined> | null;
  language?: string | null;
}

/** The caption track to fetch: its language key and whether it is YouTube's automatic one. */
export interface CaptionChoice {
  lang: string;
  automatic: boolean;
}

const usable = (formats: CaptionFormat[] | undefined): boolean => Array.isArray(formats) && formats.length > 0;

/** `en`, `en-US`, `en-orig`… */
const isEnglish = (lang: string) => /^en(?:[-_]|$)/i.test(lang);

/**
 * Which captions to fetch: manual subtitles before automatic captions; within each, the video's
 * own language, then English, then the first listed. YouTube lists automatic translations into
 * ~100 languages: of the automatic ones only the original track (`<lang>-orig`, else the video's
 * language, else English) is taken, never a machine translation of a machine transcript.
 * Null when there are none (`live_chat` is a chat replay, not captions).
 */
export function chooseCaptions(info: CaptionInfo): CaptionChoice | null {
  const lang = info.language ?? undefined;
  const pick = (tracks: Record<string, CaptionFormat[] | undefined> | null | undefined, automatic: boolean) => {
    const keys = Object.keys(tracks ?? {}).filter((k) => k !== "live_chat" && usable(tracks?.[k]));
    if (keys.length === 0) return null;
    const orig = keys.find((k) => k.endsWith("-orig"));
    const own = lang ? keys.find((k) => k === lang) : undefined;
    const english = keys.find(isEnglish);
    const chosen = automatic ? (orig ?? own ?? english) : (own ?? english ?? keys[0]);
    return chosen ? { lang: chosen, automatic } : null;
  };
  return pick(info.subtitles, false) ?? pick(info.automatic_captions, true);
}

/**
 * YouTube's automatic captions "roll": each cue shows the line before it again above the new
 * words (and a 10 ms cue between them repeats a line on its own), word timings inline
 * (`<00:00:01.280><c> word</c>`). This reads such a WebVTT into clean segments: each line once,
 * timed from the cue where it first appeared; a line that grows word by word in later cues is
 * kept at its longest. Ordinary captions (no repeated lines) come out cue by cue, unchanged.
 */
export function dedupeRollingCaptions(vtt: string): TranscriptSegment[] {
  const text = vtt.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const { cues } = parser.parse(text, "metadata");
  const segments: TranscriptSegment[] = [];
  let previous: string[] = [];
  for (const cue of cues) {
    const start = Math.round(cue.startTime * 1000);
    const end = Math.round(cue.endTime * 1000);
    const lines = plainCueText(cue.text)
      .split("\n")
      .filter((l) => l.length > 0);
    if (lines.length === 0) continue;
    // The longest run of this cue's first lines that repeats the previous cue's last lines.
    let overlap = 0;
    for (let k = Math.min(lines.length, previous.length); k > 0; k--) {
      if (lines.slice(0, k).every((l, i) => l === previous[previous.length - k + i])) {
        overlap = k;
        break;
      }
    }
    const fresh = lines.slice(overlap);
    for (const [i, line] of fresh.entries()) {
      const tail = segments[segments.length - 1];
      const prevLast = previous[previous.length - 1];
      // The same line grown by words (captions that roll within a line).
      if (i === 0 && overlap === 0 && tail && prevLast && tail.text === prevLast && line.startsWith(`${prevLast} `)) {
        tail.text = line;
        tail.end = Math.max(tail.end, end);
        continue;
      }
      segments.push({ start, end: Math.max(start, end), text: line });
    }
    previous = lines;
  }
  return segments;
}
