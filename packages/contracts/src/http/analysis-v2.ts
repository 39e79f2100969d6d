import { z } from "zod";
import {
  Analysis,
  AnalysisId,
  AnalysisState,
  AnalysisTitle,
  KEYFRAME_INTERVAL_SECONDS,
  KeyframeIntervalSeconds,
  NUM_QUESTIONS,
  NumQuestions,
  QuestionsExportFormat,
  QuestionsView,
} from "../analysis.ts";
import { AnalysisUrl } from "../analysis-url.ts";
import { MediaId } from "../media.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const e = (description: string) => ({ description, schema: ErrorResponse });
const idParams = z.object({ id: AnalysisId });
/**
 * Who sees what: the video's owner and admins, as media decides for the video itself. Any other
 * user gets **404** (as for an id that does not exist); a monitor token gets 403 on every route
 * (monitors have no analyses), as the platform's rule says (docs/api.md, "Errors").
 */
const access = { ...authErrors } as const;
const missing = { 404: e("No such analysis, or not yours.") } as const;

export const StartAnalysisBody = z
  .object({
    video_id: MediaId.optional().describe(
      "A media video to analyse (owner or admin). Exactly one of `video_id` and `url`.",
    ),
    url: AnalysisUrl.optional().describe(
      "A video URL to analyse instead: YouTube (watch, youtu.be, shorts, embed forms; 11-character id) or any http(s) media URL or page with an HTML5 `<video>`. Its captions and media are fetched by the job. Not http(s), no host, credentials in it or a YouTube URL without an 11-character id: 400 with the reason.",
    ),
    title: AnalysisTitle,
    num_questions: NumQuestions.default(NUM_QUESTIONS.default).describe(
      `Questions to generate, ${NUM_QUESTIONS.min}–${NUM_QUESTIONS.max}.`,
    ),
    keyframe_interval: KeyframeIntervalSeconds.default(KEYFRAME_INTERVAL_SECONDS.default).describe(
      `Seconds between keyframes, ${KEYFRAME_INTERVAL_SECONDS.min}–${KEYFRAME_INTERVAL_SECONDS.max}.`,
    ),
  })
  .refine((b) => (b.video_id === undefined) !== (b.url === undefined), {
    message: "give exactly one of video_id and url",
    path: ["video_id"],
  })
  // The same rule for the OpenAPI document: exactly one of `video_id` and `url`.
  .meta({ oneOf: [{ required: ["video_id"] }, { required: ["url"] }] });

export const analysisV2Routes = {
  startAnalysis: route({
    method: "post",
    path: "/api/v2/analyses",
    operationId: "startAnalysis",
    summary:
      "Start analysing a video (owner or admin): transcript, keyframes every `keyframe_interval` seconds, `num_questions` questions. One active analysis per video: while one is waiting or active, starting again answers **200** with that one instead of 202.",
    tags: ["analyses"],
    auth: "bearer",
    body: StartAnalysisBody,
    responses: {
      202: { description: "Queued.", schema: Analysis, headers: { Location: "`/api/v2/analyses/{id}`." } },
      200: { description: "An analysis of this video is already waiting or active: that one.", schema: Analysis },
      ...access,
      403: e(
        "A monitor; or a `url` whose host is or resolves to an address that is not public (loopback, private, link-local, …): see docs/egress.md.",
      ),
      404: e(
        "No such video, not yours, or it has no transcript (`no transcript available`). A URL's captions are fetched by the job: none → the analysis fails with `no transcript available` and its questions answer 404.",
      ),
    },
  }),
  getAnalysis: route({
    method: "get",
    path: "/api/v2/analyses/:id",
    operationId: "getAnalysis",
    summary: "An analysis: state, progress (stage, percent), timings, error.",
    tags: ["analyses"],
    auth: "bearer",
    params: idParams,
    responses: { 200: { description: "The analysis.", schema: Analysis }, ...missing, ...access },
  }),
  listAnalyses: route({
    method: "get",
    path: "/api/v2/analyses",
    operationId: "listAnalyses",
    summary: "Analyses newest first: of one video (`video_id`), else the caller's (admins: everyone's).",
    tags: ["analyses"],
    auth: "bearer",
    query: z.object({
      video_id: MediaId.optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
    }),
    responses: { 200: { description: "The analyses.", schema: z.object({ items: z.array(Analysis) }) }, ...access },
  }),
  analysisEvents: route({
    method: "get",
    path: "/api/v2/analyses/:id/events",
    operationId: "analysisEvents",
    summary:
      "The analysis's events as Server-Sent Events (`event:` progress, completed, failed or cancelled; `data:` the event as JSON; `id:` its JetStream sequence): from the start, or after `Last-Event-ID` (header or `?lastEventId=`). The stream ends after the terminal event; a finished analysis's events are replayed, then the stream ends. Events are kept one day.",
    tags: ["analyses"],
    auth: "bearer",
    eventStream: true,
    params: idParams,
    responses: {
      200: { description: "The event stream.", contentType: "text/event-stream" },
      ...missing,
      ...access,
    },
  }),
  cancelAnalysis: route({
    method: "post",
    path: "/api/v2/analyses/:id/cancel",
    operationId: "cancelAnalysis",
    summary:
      "Cancel an analysis (seed 001 `cancel_processing`): a waiting one is removed, an active one stopped on whichever instance runs it (its ffmpeg killed, partial keyframes deleted). Never retried.",
    tags: ["analyses"],
    auth: "bearer",
    params: idParams,
    responses: {
      200: {
        description: "Cancelled; `previousState` is the state it was found in.",
        schema: z.object({ id: AnalysisId, state: AnalysisState, previousState: AnalysisState }),
      },
      ...missing,
      409: e("Already finished (completed, failed or cancelled)."),
      ...access,
    },
  }),
  analysisQuestions: route({
    method: "get",
    path: "/api/v2/analyses/:id/questions",
    operationId: "getAnalysisQuestions",
    summary:
      "The questions of an analysis, in video order: JSON, or with `format` a file to import into an LMS or keep (`json`, `csv`, `moodle`: Moodle XML, `gift`). The owner and admins get everything; another user, when the analysis is shared or linked to a tracked video, gets the questions without answers, explanations or cloze options (`answersHidden: true`) and no exports (404).",
    tags: ["analyses"],
    auth: "bearer",
    params: idParams,
    query: z.object({ format: QuestionsExportFormat.optional() }),
    responses: {
      200: {
        description:
          "The questions (JSON); with `format`: `application/json` (`{title, questions}`), `text/csv`, `application/xml` (Moodle XML) or `text/plain` (GIFT), as an attachment.",
        schema: QuestionsView,
        alsoAs: ["text/csv", "application/xml", "text/plain"],
        headers: { "Content-Disposition": 'With `format`: `attachment; filename="…"`.' },
      },
      404: e(
        "No such analysis, not yours, or it failed because the video had no captions (`no transcript available`).",
      ),
      ...access,
    },
  }),
} as const;
