/**
 * Fixtures the analysis test files share: a transcript of ten facts (enough for the offline
 * generator to pick distinct answers), the upload of a video with its transcript, the check of an
 * analysis's keyframes and the pids of its ffmpeg.
 */
import { readdirSync, readFileSync } from "node:fs";
import { expect } from "vitest";
import { http } from "./platform.ts";

export const FACTS = [
  "Hydroponics means growing plants without soil, with their roots in a nutrient solution.",
  "In 1937 William Gericke coined the word hydroponics at the University of California.",
  "Lettuce grows well in a nutrient film technique system with a thin stream of water.",
  "The pH of the nutrient solution should stay between 5.5 and 6.5 for most crops.",
  "Basil needs about 14 hours of light every day to grow quickly.",
  "Electrical conductivity tells the grower how much fertilizer is dissolved in the water.",
  "Deep water culture keeps the roots in an oxygenated reservoir with an air pump.",
  "Tomatoes need calcium to avoid blossom end rot on the fruit.",
  "Rockwool cubes hold the seedlings until their roots reach the channel.",
  "NASA studied hydroponic gardens for long missions on the International Space Station.",
];

/** FACTS as WebVTT, one cue of `cueSeconds` after another from 0 (cue times stay under a minute). */
export function factsVtt(cueSeconds: number): string {
  const t = (s: number) => `00:00:${String(s).padStart(2, "0")}.000`;
  return [
    "WEBVTT",
    "",
    ...FACTS.flatMap((fact, i) => [`${t(i * cueSeconds)} --> ${t((i + 1) * cueSeconds)}`, fact, ""]),
  ].join("\n");
}

/** Uploads `video` as `who` (201) and, when given, its WebVTT transcript (200): the video's id. */
export async function uploadVideo(
  base: string,
  who: { bearer: string },
  video: Buffer,
  transcript?: string,
): Promise<string> {
  const res = await fetch(`${base}/api/v2/videos?filename=clip.mp4`, {
    method: "POST",
    headers: { authorization: `Bearer ${who.bearer}`, "content-type": "video/mp4" },
    body: video,
  });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  if (transcript !== undefined) {
    const put = await fetch(`${base}/api/v2/videos/${body.id}/transcript`, {
      method: "PUT",
      headers: { authorization: `Bearer ${who.bearer}`, "content-type": "text/vtt" },
      body: transcript,
    });
    expect(put.status, await put.text()).toBe(200);
  }
  return body.id;
}

/** Each keyframe is `who`'s picture in media (media owns the bytes): a JPEG of testVideo's 320x240. */
export async function expectKeyframePictures(
  base: string,
  who: { id: string; bearer: string },
  pictureIds: string[],
): Promise<void> {
  for (const pictureId of pictureIds) {
    const pic = await http(base, "GET", `/api/v2/pictures/${pictureId}`, { bearer: who.bearer });
    expect(pic.status).toBe(200);
    expect(pic.body).toMatchObject({ userId: who.id, type: "image/jpeg", width: 320, height: 240 });
  }
}

/** Pids of ffmpeg processes working for the analysis (its job's temp dir is in their command line). */
export function ffmpegPidsOf(analysisId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if ((cmd.startsWith("ffmpeg") || cmd.includes("/ffmpeg")) && cmd.includes(`trellis-analysis-${analysisId}`)) {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
