import { z } from "zod";
import { Engagement, MAX_VIDEO_TITLE_LENGTH, MAX_VIDEO_URL_LENGTH, TrackedVideo } from "../tracked-videos.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const tags = ["tracked videos"];
const url = z
  .string()
  .min(1)
  .max(MAX_VIDEO_URL_LENGTH)
  .describe(
    "A YouTube URL (watch, youtu.be, shorts, embed, live: the key is `https://www.youtube.com/watch?v=<id>`) or any other http(s) video URL. Anything else (not http(s), no host, credentials in it, a YouTube URL without an 11-character id) is a 400 with the reason.",
  );
const unknown = { 404: { description: "The URL is not tracked.", schema: ErrorResponse } } as const;

/**
 * Seed 001's `add_URL` / `get_URL` with engagement. Any authenticated user may track a video,
 * read its engagement and record a view (they are shared, like the seed's); monitors get 403.
 */
export const trackedVideosV2Routes = {
  track: route({
    method: "post",
    path: "/api/v2/tracked-videos",
    operationId: "trackVideo",
    summary: "Track a video URL (seed 001 `add_URL`): 400 when the URL (in canonical form) is already tracked.",
    tags,
    auth: "bearer",
    body: z.object({ url, title: z.string().min(1).max(MAX_VIDEO_TITLE_LENGTH).optional() }),
    responses: {
      201: { description: "Tracked, under its canonical URL.", schema: TrackedVideo },
      ...authErrors,
      400: { description: "Not a valid video URL, or already tracked.", schema: ErrorResponse },
    },
  }),
  engagement: route({
    method: "get",
    path: "/api/v2/tracked-videos",
    operationId: "getTrackedVideo",
    summary:
      "A tracked video's engagement (seed 001 `get_URL`): views, answers submitted, correct rate overall and per question (null before any answer).",
    tags,
    auth: "bearer",
    query: z.object({ url }),
    responses: { 200: { description: "Its engagement.", schema: Engagement }, ...unknown, ...authErrors },
  }),
  view: route({
    method: "post",
    path: "/api/v2/tracked-videos/views",
    operationId: "recordTrackedVideoView",
    summary: "Record one view of a tracked video (a learner watched it).",
    tags,
    auth: "bearer",
    body: z.object({ url }),
    responses: {
      200: {
        description: "The view count after this one.",
        schema: z.object({ url: z.string(), views: z.number().int().nonnegative() }),
      },
      ...unknown,
      ...authErrors,
    },
  }),
} as const;
