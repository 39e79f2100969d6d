import { describe, expect, it } from "vitest";
import { parseVideoUrl } from "./tracked-videos.ts";

const ID = "dQw4w9WgXcQ";
const WATCH = `https://www.youtube.com/watch?v=${ID}`;

describe("parseVideoUrl (seed 001 YouTubeVideo)", () => {
  it.each([
    WATCH,
    `http://youtube.com/watch?v=${ID}&t=42s`,
    `https://m.youtube.com/watch?feature=share&v=${ID}`,
    `https://music.youtube.com/watch?v=${ID}&list=RDAMVM`,
    `https://youtu.be/${ID}`,
    `https://youtu.be/${ID}?si=abc&t=10`,
    `youtu.be/${ID}`,
    `www.youtube.com/watch?v=${ID}`,
    `https://www.youtube.com/shorts/${ID}`,
    `https://youtube.com/shorts/${ID}?feature=share`,
    `https://www.youtube.com/embed/${ID}?start=5`,
    `https://www.youtube-nocookie.com/embed/${ID}`,
    `https://www.youtube.com/live/${ID}`,
    `https://www.youtube.com/v/${ID}`,
    `  ${WATCH}#comments  `,
    `HTTPS://WWW.YOUTUBE.COM/watch?v=${ID}`,
  ])("%s → the canonical watch URL and its id", (input) => {
    expect(parseVideoUrl(input)).toEqual({ ok: true, value: { url: WATCH, youtubeId: ID } });
  });

  it.each([
    "https://www.youtube.com/watch?v=short",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQX",
    "https://www.youtube.com/watch?v=dQw4w9WgX!Q",
    "https://www.youtube.com/watch",
    "https://www.youtube.com/",
    "https://www.youtube.com/channel/UC38IQsAvIsxxjztdMZQtwHA",
    "https://youtu.be/",
    "https://www.youtube.com/shorts/",
  ])("a YouTube URL without a valid id is refused: %s", (input) => {
    expect(parseVideoUrl(input)).toMatchObject({ ok: false, reason: "not a valid YouTube video URL" });
  });

  it.each([
    "",
    "   ",
    "not a url",
    "ftp://example.com/video.mp4",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "mailto:a@b.c",
    "https://user:pw@example.com/v.mp4",
    `https://example.com/${"a".repeat(2_100)}`,
  ])("anything else that is not an http(s) URL is refused: %j", (input) => {
    expect(parseVideoUrl(input).ok).toBe(false);
  });

  it("any other http(s) URL is kept (less its fragment) with no YouTube id", () => {
    expect(parseVideoUrl("https://cdn.example.com/talks/intro.mp4?v=2#t=10")).toEqual({
      ok: true,
      value: { url: "https://cdn.example.com/talks/intro.mp4?v=2", youtubeId: null },
    });
    expect(parseVideoUrl("http://Example.COM:8080/a b.webm").ok).toBe(true);
    expect(parseVideoUrl("http://Example.COM:8080/a b.webm")).toMatchObject({
      value: { url: "http://example.com:8080/a%20b.webm" },
    });
  });
});
