import { describe, expect, it } from "vitest";
import { parseTranscript, recogniseFormat, toWebVtt } from "./transcript.ts";

const vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello there\n\n00:03.000 --> 00:04.000\nSecond <b>cue</b>\n";
const srt =
  "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello SRT\r\n\r\n2\r\n00:01:03,250 --> 00:01:04,000\r\nTwo\r\nlines\r\n";

describe("transcripts", () => {
  it("recognise their format from the text", () => {
    expect(recogniseFormat(vtt)).toBe("vtt");
    expect(recogniseFormat(`\uFEFF${srt}`)).toBe("srt");
    expect(recogniseFormat("Just words, no timing.")).toBe("text");
    expect(recogniseFormat("WEBVTTX\nnot a header")).toBe("text");
  });

  it("parse WebVTT and SRT into segments in ms", () => {
    expect(parseTranscript(vtt, "vtt")).toEqual([
      { start: 1_000, end: 2_500, text: "Hello there" },
      { start: 3_000, end: 4_000, text: "Second <b>cue</b>" },
    ]);
    expect(parseTranscript(srt, "srt")).toEqual([
      { start: 1_000, end: 2_500, text: "Hello SRT" },
      { start: 63_250, end: 64_000, text: "Two\nlines" },
    ]);
    expect(parseTranscript("anything at all", "text")).toEqual([]);
  });

  it("name the wrong line of an invalid file, counted as it was sent", () => {
    const badVtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\n\n00:00:0x.000 --> 00:00:04.000\nBroken\n";
    expect(() => parseTranscript(badVtt, "vtt")).toThrow(/invalid WebVTT transcript: line 6:/);
    expect(() => parseTranscript("00:00:01.000 --> 00:00:02.000\nno header\n", "vtt")).toThrow(/line 1:.*WEBVTT/);
    const backwards = "WEBVTT\n\n00:00:05.000 --> 00:00:02.500\nBackwards\n";
    expect(() => parseTranscript(backwards, "vtt")).toThrow(/line 3: End timestamp is not greater/);
    const badSrt = "1\n00:00:01,000 --> 00:00:02,500\nFine\n\n2\n00:00:03,000 --> 00:00:0x,000\nBroken\n";
    expect(() => parseTranscript(badSrt, "srt")).toThrow(/invalid SRT transcript: line 6:/);
  });

  it("render as WebVTT: SRT converted, plain text as one cue over the video", () => {
    expect(toWebVtt(vtt, "vtt", null)).toBe(vtt);
    const converted = toWebVtt(srt, "srt", null);
    expect(converted.startsWith("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\nHello SRT")).toBe(true);
    expect(parseTranscript(converted, "vtt")).toEqual(parseTranscript(srt, "srt"));
    const plain = toWebVtt("First line.\n\nSecond --> line.", "text", 90_500);
    expect(plain).toBe("WEBVTT\n\n00:00:00.000 --> 00:01:30.500\nFirst line.\nSecond -> line.\n");
    expect(parseTranscript(plain, "vtt")).toEqual([{ start: 0, end: 90_500, text: "First line.\nSecond -> line." }]);
  });
});
