import { z } from "zod";
import { endpoint } from "./endpoint.ts";
import { Principal } from "./identity.ts";
import { subject } from "./services.ts";

const s = (name: string) => subject("analysis", 1, name);

/** Longest video URL accepted. */
export const MAX_VIDEO_URL_LENGTH = 2_048;
/** Longest title of a tracked video. */
export const MAX_VIDEO_TITLE_LENGTH = 300;

/** A YouTube video id: 11 characters of the URL-safe base64 alphabet. */
export const YOUTUBE_ID = /^[A-Za-z0-9_-]{11}$/;

const YOUTUBE_HOSTS = new Set([
  "youtube.com",
  "www.youtube.com",
  "m.youtube.com",
  "music.youtube.com",
  "youtube-nocookie.com",
  "www.youtube-nocookie.com",
]);
const SHORT_HOSTS = new Set(["youtu.be", "www.youtu.be"]);
/** Path forms whose second segment is the id: /shorts/ID, /embed/ID, /live/ID, /v/ID, /e/ID. */
const ID_PATHS = new Set(["shorts", "embed", "live", "v", "e"]);

/** A video URL made canonical: the key a tracked video is stored under. */
export interface VideoUrl {
  /** `https://www.youtube.com/watch?v=<id>` for a YouTube video; otherwise the URL without its fragment. */
  url: string;
  /** The 11-character id of a YouTube video, null for any other URL. */
  youtubeId: string | null;
}

export type VideoUrlResult = { ok: true; value: VideoUrl } | { ok: false; reason: string };

const youtubeWatch = (id: string) => `https://www.youtube.com/watch?v=${id}`;

/**
 * Seed 001's `YouTubeVideo` validation, and its key. YouTube's forms (`watch?v=`, `youtu.be/`,
 * `shorts/`, `embed/`, `live/`, `v/`, on www, m, music and youtube-nocookie) give the 11-character
 * id and the canonical watch URL; a YouTube URL without a valid id is refused. Any other http(s)
 * URL (a direct media file) is kept as is, less its fragment. Anything else is refused.
 * A YouTube URL written without its scheme (`youtu.be/…`) is read as https.
 */
export function parseVideoUrl(input: string): VideoUrlResult {
  const text = input.trim();
  if (text === "") return { ok: false, reason: "url is required" };
  if (text.length > MAX_VIDEO_URL_LENGTH) return { ok: false, reason: `url is longer than ${MAX_VIDEO_URL_LENGTH}` };
  const withScheme = /^(www\.|m\.)?(youtube\.com|youtu\.be)\//i.test(text) ? `https://${text}` : text;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return { ok: false, reason: "url is not a valid URL" };
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return { ok: false, reason: "url must be http(s)" };
  if (u.hostname === "") return { ok: false, reason: "url has no host" };
  if (u.username || u.password) return { ok: false, reason: "url must not carry credentials" };
  const host = u.hostname.toLowerCase();
  const segments = u.pathname.split("/").filter((p) => p !== "");
  let id: string | undefined | null = null;
  if (SHORT_HOSTS.has(host)) id = segments[0];
  else if (YOUTUBE_HOSTS.has(host)) {
    if (segments[0] === "watch") id = u.searchParams.get("v") ?? undefined;
    else if (segments[0] && ID_PATHS.has(segments[0])) id = segments[1];
    else id = undefined;
  }
  if (id === null) {
    u.hash = "";
    return { ok: true, value: { url: u.href, youtubeId: null } };
  }
  if (id === undefined || !YOUTUBE_ID.test(id)) return { ok: false, reason: "not a valid YouTube video URL" };
  return { ok: true, value: { url: youtubeWatch(id), youtubeId: id } };
}

/** A question's id as a counter key (no `.` or `$`: it is a field name in the store). */
export const QuestionId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -");

/** A URL as given: checked and made canonical by the service (`parseVideoUrl`). */
const UrlText = z.string().min(1, "url is required").max(MAX_VIDEO_URL_LENGTH);

export const TrackedVideo = z.object({
  url: z.string(),
  youtubeId: z.string().nullable(),
  title: z.string().nullable(),
  trackedAt: z.iso.datetime(),
});
export type TrackedVideo = z.infer<typeof TrackedVideo>;

/**
 * Seed 001's engagement: views, answers submitted, the share of them that were correct (null
 * before any answer), and the same per question (by question id).
 */
export const Engagement = z.object({
  url: z.string(),
  title: z.string().nullable(),
  views: z.number().int().nonnegative(),
  answersSubmitted: z.number().int().nonnegative(),
  correctRate: z.number().min(0).max(1).nullable(),
  perQuestion: z.array(
    z.object({
      questionId: z.string(),
      answers: z.number().int().nonnegative(),
      correctRate: z.number().min(0).max(1).nullable(),
    }),
  ),
});
export type Engagement = z.infer<typeof Engagement>;

const Actor = { actor: Principal };

/**
 * Tracked videos (seed 001 `add_URL` / `get_URL`), served by the analysis service. Any
 * authenticated user may track a URL, read its engagement and record a view; monitors may not.
 */
export const trackedVideosCatalog = {
  trackVideo: endpoint({
    subject: s("tracked.add"),
    request: z.object({ ...Actor, url: UrlText, title: z.string().min(1).max(MAX_VIDEO_TITLE_LENGTH).optional() }),
    reply: TrackedVideo,
    description: "Tracks a video URL (canonical form); `invalid_argument` when it is already tracked (seed 001: 400).",
  }),
  getEngagement: endpoint({
    subject: s("tracked.get"),
    request: z.object({ ...Actor, url: UrlText }),
    reply: Engagement,
    description: "A tracked video's engagement; `not_found` when the URL is not tracked.",
  }),
  recordView: endpoint({
    subject: s("tracked.view"),
    request: z.object({ ...Actor, url: UrlText }),
    reply: z.object({ url: z.string(), views: z.number().int().nonnegative() }),
    description: "Counts one view of a tracked video.",
  }),
  recordAnswer: endpoint({
    subject: s("tracked.answer"),
    request: z.object({ ...Actor, url: UrlText, questionId: QuestionId, correct: z.boolean() }),
    reply: Engagement,
    description:
      "Counts one graded answer to a question of a tracked video (called by the answers pipeline once it has graded it).",
  }),
} as const;
