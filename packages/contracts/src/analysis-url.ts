import { z } from "zod";
import {
  Analysis,
  AnalysisTitle,
  KEYFRAME_INTERVAL_SECONDS,
  KeyframeIntervalSeconds,
  NUM_QUESTIONS,
  NumQuestions,
} from "./analysis.ts";
import { endpoint } from "./endpoint.ts";
import { Principal } from "./identity.ts";
import { subject } from "./services.ts";
import { MAX_VIDEO_URL_LENGTH, parseVideoUrl } from "./tracked-videos.ts";

const s = (name: string) => subject("analysis", 1, name);

/**
 * A video URL to analyse, checked as seed 001's `YouTubeVideo` (`parseVideoUrl`): a YouTube URL
 * (watch, youtu.be, shorts, embed, … forms) must carry an 11-character id; any other http(s) URL
 * (a direct media file, or a web page with an HTML5 `<video>`) is taken as given. Anything else is
 * refused with the reason.
 */
export const AnalysisUrl = z
  .string()
  .max(MAX_VIDEO_URL_LENGTH)
  .superRefine((value, ctx) => {
    const parsed = parseVideoUrl(value);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
  });

/** The analysis service's endpoints for URL videos (merged into `analysisCatalog`). */
export const analysisUrlCatalog = {
  startUrl: endpoint({
    subject: s("analyses.start_url"),
    request: z.object({
      actor: Principal,
      url: AnalysisUrl,
      title: AnalysisTitle,
      numQuestions: NumQuestions.default(NUM_QUESTIONS.default),
      keyframeInterval: KeyframeIntervalSeconds.default(KEYFRAME_INTERVAL_SECONDS.default),
    }),
    reply: z.object({ created: z.boolean(), analysis: Analysis }),
    description:
      "Starts an analysis of a video URL (YouTube or any http(s) media URL or page) owned by the caller (users only). Captions and media are fetched by the job (yt-dlp); no captions → the job fails with 'no transcript available'. While one is waiting or active for the caller and this URL, that one is returned with created=false.",
  }),
} as const;

/**
 * A URL video's id: a UUID (version 8, RFC 9562 "custom") from SHA-256 of the owner and the
 * canonical URL, so every form of one YouTube video is the same video for its owner, and the
 * one-active-analysis-per-video rule, `?video_id=` lists and events work as for media videos. It
 * never names a media video (media ids are version 4).
 */
export async function urlVideoId(ownerId: string, canonicalUrl: string): Promise<string> {
  const data = new TextEncoder().encode(`trellis-url-video\n${ownerId}\n${canonicalUrl}`);
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", data)).slice(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80; // version 8
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
