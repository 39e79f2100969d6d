import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { chooseCaptions, dedupeRollingCaptions } from "./captions.ts";

const rolling = readFileSync(new URL("../../test/fixtures/youtube-auto-rolling.en.vtt", import.meta.url), "utf8");

describe("dedupeRollingCaptions", () => {
  it("reads YouTube's rolling automatic captions into each line once, timed from where it first appears", () => {
    expect(dedupeRollingCaptions(rolling)).toEqual([
      { start: 160, end: 2629, text: "hydroponics means growing plants without soil" },
      { start: 2639, end: 5190, text: "their roots sit in a nutrient solution" },
      { start: 5200, end: 7749, text: "the ph should stay between 5.5 and 6.5" },
      { start: 7759, end: 10000, text: "[Music]" },
    ]);
  });

  it("keeps ordinary captions cue by cue, even a line said twice in non-adjacent cues", () => {
    const vtt = [
      "WEBVTT",
      "",
      "00:00:00.000 --> 00:00:02.000",
      "Basil needs light.",
      "",
      "00:00:02.000 --> 00:00:04.000",
      "Lettuce likes it cool.",
      "",
      "00:00:04.000 --> 00:00:06.000",
      "Basil needs light.",
      "",
    ].join("\n");
    expect(dedupeRollingCaptions(vtt).map((s) => s.text)).toEqual([
      "Basil needs light.",
      "Lettuce likes it cool.",
      "Basil needs light.",
    ]);
  });

  it("keeps a line that grows word by word at its longest", () => {
    const vtt = [
      "WEBVTT",
      "",
      "00:00:00.000 --> 00:00:01.000",
      "tomatoes need",
      "",
      "00:00:01.000 --> 00:00:02.000",
      "tomatoes need calcium",
      "",
      "00:00:02.000 --> 00:00:03.000",
      "tomatoes need calcium",
      "to avoid blossom end rot",
      "",
    ].join("\n");
    expect(dedupeRollingCaptions(vtt)).toEqual([
      { start: 0, end: 2000, text: "tomatoes need calcium" },
      { start: 2000, end: 3000, text: "to avoid blossom end rot" },
    ]);
  });

  it("reads cue text as plain text (plainCueText): references decoded, markup and word timings dropped", () => {
    const vtt = [
      "WEBVTT",
      "",
      "00:00:00.000 --> 00:00:02.000",
      "files<00:00:00.500><c> over</c><00:00:01.000><c> 10&nbsp;kB</c>",
      "",
      "00:00:02.000 --> 00:00:04.000",
      "files over 10&#xA0;kB",
      "are <i>large</i> (&gt; 10 kB) &amp; slow",
      "",
    ].join("\n");
    expect(dedupeRollingCaptions(vtt)).toEqual([
      { start: 0, end: 2000, text: "files over 10 kB" },
      { start: 2000, end: 4000, text: "are large (> 10 kB) & slow" },
    ]);
  });

  it("gives nothing for captions without words", () => {
    expect(dedupeRollingCaptions("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n \n")).toEqual([]);
    expect(dedupeRollingCaptions("not a caption file")).toEqual([]);
  });
});

describe("chooseCaptions", () => {
  const track = [{ ext: "vtt", url: "https://example.test/t.vtt" }];

  it("prefers manual subtitles (the video's language, then English) to automatic captions", () => {
    expect(
      chooseCaptions({
        language: "de",
        subtitles: { fr: track, de: track, en: track },
        automatic_captions: { en: track },
      }),
    ).toEqual({ lang: "de", automatic: false });
    expect(chooseCaptions({ subtitles: { fr: track, "en-GB": track }, automatic_captions: { en: track } })).toEqual({
      lang: "en-GB",
      automatic: false,
    });
    expect(chooseCaptions({ subtitles: { fr: track } })).toEqual({ lang: "fr", automatic: false });
  });

  it("falls back to the original automatic track, never a machine translation", () => {
    expect(
      chooseCaptions({
        language: "en",
        subtitles: { live_chat: track },
        automatic_captions: { ab: track, "en-orig": track, en: track, fr: track },
      }),
    ).toEqual({ lang: "en-orig", automatic: true });
    expect(chooseCaptions({ language: "es", automatic_captions: { af: track, es: track } })).toEqual({
      lang: "es",
      automatic: true,
    });
    expect(chooseCaptions({ automatic_captions: { af: track, fr: track } })).toBeNull();
  });

  it("is null without captions", () => {
    expect(chooseCaptions({})).toBeNull();
    expect(chooseCaptions({ subtitles: null, automatic_captions: { en: [] } })).toBeNull();
  });
});
