import { describe, expect, it } from "vitest";
import { formatOf, parseTimedTranscript, segmentsFromFile, segmentsFromPlainText } from "./transcript-input.ts";

describe("transcript input", () => {
  it("reads WebVTT cues in ms without markup, entities decoded", () => {
    const vtt =
      "WEBVTT\n\n00:00:01.000 --> 00:00:03.500\n<v Ana>Keep the pH &amp; EC</v>\nin <i>range</i>.\n\n00:01:00.250 --> 00:01:02.000\nSecond cue\n";
    expect(parseTimedTranscript(vtt, "vtt")).toEqual([
      { start: 1000, end: 3500, text: "Keep the pH & EC in range." },
      { start: 60_250, end: 62_000, text: "Second cue" },
    ]);
  });

  it("reads SRT (comma before the ms, numbered cues, CRLF)", () => {
    const srt =
      "1\r\n00:00:01,000 --> 00:00:02,000\r\nFirst line\r\n\r\n2\r\n00:00:02,500 --> 00:00:04,000\r\nSecond\r\nline\r\n";
    expect(formatOf("talk.srt", srt)).toBe("srt");
    expect(segmentsFromFile("talk.srt", srt)).toEqual([
      { start: 1000, end: 2000, text: "First line" },
      { start: 2500, end: 4000, text: "Second line" },
    ]);
  });

  it("recognises the format from the name, else from the content", () => {
    expect(formatOf("a.vtt", "")).toBe("vtt");
    expect(formatOf("a.txt", "WEBVTT\n\n")).toBe("vtt");
    expect(formatOf("transcript", "1\n00:00:01,000 --> 00:00:02,000\nx\n")).toBe("srt");
    expect(formatOf("notes.txt", "Just words.")).toBe("text");
  });

  it("spreads plain text paragraphs by word count, at 150 words a minute or over a given duration", () => {
    const text = "one two three four\n\n  five six\nseven eight  \n\n\n";
    expect(segmentsFromPlainText(text)).toEqual([
      { start: 0, end: 1600, text: "one two three four" },
      { start: 1600, end: 3200, text: "five six seven eight" },
    ]);
    expect(segmentsFromPlainText(text, 8000).map((s) => [s.start, s.end])).toEqual([
      [0, 4000],
      [4000, 8000],
    ]);
    expect(segmentsFromPlainText(" \n\n ")).toEqual([]);
  });

  it("reads cue text as plain text on one line (plainCueText, lines joined)", () => {
    const vtt =
      "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<c.yellow>a</c>\n<00:00:01.000>b &lt;c&gt; &#x3E; &#62;&nbsp;d\n";
    expect(parseTimedTranscript(vtt, "vtt")).toEqual([{ start: 0, end: 2000, text: "a b <c> > > d" }]);
    const srt =
      '1\n00:00:01,000 --> 00:00:02,000\n{\\an8}<font color="#fff">R&amp;D</font> &amp; Q&A\n<i>2</i> &lt; 3\n';
    expect(segmentsFromFile("talk.srt", srt)).toEqual([{ start: 1000, end: 2000, text: "R&D & Q&A 2 < 3" }]);
  });
});
