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
      { start: 3_000, end: 4_000, text: "Second cue" },
    ]);
    expect(parseTranscript(srt, "srt")).toEqual([
      { start: 1_000, end: 2_500, text: "Hello SRT" },
      { start: 63_250, end: 64_000, text: "Two\nlines" },
    ]);
    expect(parseTranscript("anything at all", "text")).toEqual([]);
  });

  it("give cue text as plain text: markup dropped, character references decoded (plainCueText)", () => {
    const marked = [
      "WEBVTT",
      "",
      "00:00:01.000 --> 00:00:02.000",
      "<v Teacher>Files over 10&nbsp;kB are <i>large</i> (&gt; 10 kB) &amp; slow.</v>",
      "",
      "00:00:02.000 --> 00:00:03.000",
      "<c.yellow>One</c><00:00:02.500><c> more</c> &#60;tag&#x3E;",
      "",
    ].join("\n");
    expect(parseTranscript(marked, "vtt")).toEqual([
      { start: 1_000, end: 2_000, text: "Files over 10 kB are large (> 10 kB) & slow." },
      { start: 2_000, end: 3_000, text: "One more <tag>" },
    ]);
    const srtMarked =
      '1\n00:00:01,000 --> 00:00:02,000\n{\\an8}<font color="#ff0000">Q&A: x &lt; 5</font>\n<b>Two</b>\n';
    expect(parseTranscript(srtMarked, "srt")).toEqual([{ start: 1_000, end: 2_000, text: "Q&A: x < 5\nTwo" }]);
    // As WebVTT, the SRT is its plain text escaped: valid WebVTT that reads back the same.
    const asVtt = toWebVtt(srtMarked, "srt", null);
    expect(asVtt).toBe("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nQ&amp;A: x &lt; 5\nTwo\n");
    expect(parseTranscript(asVtt, "vtt")).toEqual(parseTranscript(srtMarked, "srt"));
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
    expect(converted.startsWith("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello SRT\n\n")).toBe(true);
    expect(parseTranscript(converted, "vtt")).toEqual(parseTranscript(srt, "srt"));
    const plain = toWebVtt("First line.\n\nSecond --> line & <more>.", "text", 90_500);
    expect(plain).toBe(
      "WEBVTT\n\n00:00:00.000 --> 00:01:30.500\nFirst line.\nSecond --&gt; line &amp; &lt;more&gt;.\n",
    );
    expect(parseTranscript(plain, "vtt")).toEqual([
      { start: 0, end: 90_500, text: "First line.\nSecond --> line & <more>." },
    ]);
  });
});
