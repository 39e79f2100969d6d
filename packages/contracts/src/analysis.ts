import { z } from "zod";
import { endpoint } from "./endpoint.ts";
import { healthEndpoint } from "./health.ts";
import { NOT_BLANK, Principal, UserId } from "./identity.ts";
import { MediaId } from "./media.ts";
import { lastTokenOf, subject } from "./services.ts";
import { TraceCarrier } from "./trace.ts";

const s = (name: string) => subject("analysis", 1, name);

/** An analysis (its BullMQ job has the same id). */
export const AnalysisId = z.uuid();
export type AnalysisId = z.infer<typeof AnalysisId>;

/** Bounds of what a caller may ask for. */
export const NUM_QUESTIONS = { min: 1, max: 50, default: 10 } as const;
export const KEYFRAME_INTERVAL_SECONDS = { min: 1, max: 600, default: 10 } as const;

export const NumQuestions = z.number().int().min(NUM_QUESTIONS.min).max(NUM_QUESTIONS.max);
export const KeyframeIntervalSeconds = z
  .number()
  .int()
  .min(KEYFRAME_INTERVAL_SECONDS.min)
  .max(KEYFRAME_INTERVAL_SECONDS.max);
export const AnalysisTitle = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .meta({ pattern: NOT_BLANK });

export const ANALYSIS_STATES = ["waiting", "active", "completed", "failed", "cancelled"] as const;
export const AnalysisState = z.enum(ANALYSIS_STATES);
export type AnalysisState = z.infer<typeof AnalysisState>;
/** States an analysis never leaves. */
export const isFinishedState = (state: AnalysisState): boolean =>
  state === "completed" || state === "failed" || state === "cancelled";

/** The step a job is in; `percent` is of the whole analysis (0–100). */
export const AnalysisStage = z.enum(["queued", "transcript", "keyframes", "questions", "saving", "done"]);
export type AnalysisStage = z.infer<typeof AnalysisStage>;
export const AnalysisProgress = z.object({
  stage: AnalysisStage,
  percent: z.number().min(0).max(100),
});
export type AnalysisProgress = z.infer<typeof AnalysisProgress>;

/** Why an analysis failed: a stable code (`deadline_exceeded` for the per-job timeout) and a message. */
export const AnalysisError = z.object({ code: z.string(), message: z.string() });
export type AnalysisError = z.infer<typeof AnalysisError>;

/** An analysis as clients see it. */
export const Analysis = z.object({
  id: AnalysisId,
  videoId: MediaId,
  ownerId: UserId,
  title: z.string(),
  /**
   * For an analysis of a URL (not a media video): the URL in canonical form, and the YouTube id when
   * it is one. `videoId` is then derived from the owner and this URL (`urlVideoId`).
   */
  url: z.string().optional(),
  youtubeId: z.string().optional(),
  numQuestions: NumQuestions,
  keyframeInterval: KeyframeIntervalSeconds,
  state: AnalysisState,
  progress: AnalysisProgress,
  error: AnalysisError.optional(),
  /** Pictures in media, one per `keyframeInterval` seconds, once the keyframes step has run. */
  keyframeIds: z.array(MediaId),
  questionCount: z.number().int().nonnegative(),
  /** What wrote the questions, once completed: `offline` (wink-nlp) or `llm:<model>` (an OpenAI-compatible server). */
  generator: z
    .string()
    .regex(/^(?:offline|llm:.+)$/)
    .optional(),
  attempts: z.number().int().nonnegative(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().optional(),
  finishedAt: z.iso.datetime().optional(),
  /** Shared by its owner: any signed-in user may read its questions (without answers) and answer them. */
  shared: z.boolean(),
  /** The tracked video (canonical URL) whose engagement its answers count into; such an analysis is answerable by any signed-in user. */
  trackedUrl: z.string().nullable(),
});
export type Analysis = z.infer<typeof Analysis>;

/** A generated question about a video, with where in the video it comes from. */
export const Question = z.object({
  id: z.uuid(),
  analysisId: AnalysisId,
  videoId: MediaId,
  /** `cloze`: a sentence with a `___` blank, the answer typed in (options: the answer only); `multiple_choice`: the answer among distractors. */
  kind: z.enum(["cloze", "multiple_choice"]),
  text: z.string(),
  options: z.array(z.string()).min(1),
  answer: z.string(),
  explanation: z.string(),
  timestampMs: z.number().int().nonnegative(),
  keyframeId: MediaId.nullable(),
});
export type Question = z.infer<typeof Question>;

/**
 * A question as a learner sees it before answering: no answer, no explanation, and no options for
 * a cloze question (its only option would be the answer).
 */
export const LearnerQuestion = Question.omit({ answer: true, explanation: true }).extend({
  options: z.array(z.string()),
});
export type LearnerQuestion = z.infer<typeof LearnerQuestion>;

/** The questions of an analysis: whole for its owner and admins, as `LearnerQuestion`s (`answersHidden`) for anyone else. */
export const QuestionsView = z.object({
  items: z.array(z.union([Question, LearnerQuestion])),
  answersHidden: z.boolean(),
});
export type QuestionsView = z.infer<typeof QuestionsView>;

/**
 * The BullMQ job's payload, validated by the worker before anything runs (invalid → never retried).
 * `actor` is the principal that started it: media calls are made on its behalf.
 */
export const AnalysisJobData = z.object({
  analysisId: AnalysisId,
  videoId: MediaId,
  ownerId: UserId,
  title: AnalysisTitle,
  numQuestions: NumQuestions,
  keyframeInterval: KeyframeIntervalSeconds,
  actor: Principal,
  /** Set for a URL analysis (canonical form): captions and media come from it (yt-dlp), not from media. */
  url: z.string().max(2_048).optional(),
  /** The trace of the request that queued the job (when tracing is on): the worker's spans join it. */
  trace: TraceCarrier.optional(),
});
export type AnalysisJobData = z.infer<typeof AnalysisJobData>;
/** Job names of the analysis queue. */
export const ANALYSIS_JOB_NAMES = ["analyze-video"] as const;
export type AnalysisJobName = (typeof ANALYSIS_JOB_NAMES)[number];

const Actor = { actor: Principal };

/** Files the questions of an analysis export to, for an LMS. */
export const QuestionsExportFormat = z.enum(["json", "csv", "moodle", "gift"]);
export type QuestionsExportFormat = z.infer<typeof QuestionsExportFormat>;

/** The analysis service's job endpoints (its whole catalog, with tracked videos, is `analysisCatalog`). */
export const analysisJobsCatalog = {
  health: healthEndpoint("analysis"),
  start: endpoint({
    subject: s("analyses.start"),
    request: z.object({
      ...Actor,
      videoId: MediaId,
      title: AnalysisTitle,
      numQuestions: NumQuestions.default(NUM_QUESTIONS.default),
      keyframeInterval: KeyframeIntervalSeconds.default(KEYFRAME_INTERVAL_SECONDS.default),
    }),
    reply: z.object({ created: z.boolean(), analysis: Analysis }),
    description:
      "Starts an analysis of a media video (owner or admin; not_found otherwise, and 'no transcript available' when it has none). While one is waiting or active for the video, that one is returned with created=false.",
  }),
  get: endpoint({
    subject: s("analyses.get"),
    request: z.object({ ...Actor, analysisId: AnalysisId }),
    reply: Analysis,
    description: "An analysis (its video's owner or an admin; not_found for anyone else).",
  }),
  list: endpoint({
    subject: s("analyses.list"),
    request: z.object({ ...Actor, videoId: MediaId.optional(), limit: z.number().int().min(1).max(500).default(50) }),
    reply: z.object({ items: z.array(Analysis) }),
    description: "Analyses newest first: of one video, or all the actor's (admins see everyone's).",
  }),
  cancel: endpoint({
    subject: s("analyses.cancel"),
    request: z.object({ ...Actor, analysisId: AnalysisId }),
    reply: z.object({ id: AnalysisId, state: AnalysisState, previousState: AnalysisState }),
    description:
      "Cancels an analysis: a waiting one is removed from the queue, an active one is stopped on whichever instance holds it. not_found if unknown, conflict if already finished.",
  }),
  questions: endpoint({
    subject: s("analyses.questions"),
    request: z.object({ ...Actor, analysisId: AnalysisId }),
    reply: QuestionsView,
    description:
      "The questions of a completed analysis, in video order: whole for the owner or an admin; without answers for another user when it is shared or linked to a tracked video; not_found otherwise.",
  }),
  exportQuestions: endpoint({
    subject: s("analyses.questions.export"),
    request: z.object({ ...Actor, analysisId: AnalysisId, format: QuestionsExportFormat }),
    reply: z.object({ contentType: z.string(), filename: z.string(), text: z.string() }),
    description: "The questions of an analysis as a JSON, CSV, Moodle XML or GIFT file (owner or admin).",
  }),
} as const;

/**
 * Internal broadcast (no queue group): every analysis instance hears it, and the one whose worker
 * holds the job cancels it.
 */
export const ANALYSIS_CANCEL_BROADCAST = s("internal.cancel");
export const AnalysisCancelBroadcast = z.object({ analysisId: AnalysisId });

/**
 * Events of analyses, kept in the JetStream stream `ANALYSIS_EVENTS` (one day) so a client can
 * replay one analysis's events and resume after the last it saw. Each is published on
 * `analysis.v1.events.<analysisId>.<kind>`; `subject` is the wildcard over all analyses
 * (core NATS subscribers still receive every event), `subjectFor(id)` one analysis's.
 * Progress is throttled.
 */
export const ANALYSIS_EVENTS_STREAM = "ANALYSIS_EVENTS";
export const ANALYSIS_EVENTS_SUBJECTS = s("events.>");
export const ANALYSIS_EVENTS_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** Every event of one analysis, for a subject filter. */
export const analysisEventsOf = (analysisId: AnalysisId): string => s(`events.${analysisId}.*`);

const eventSubjects = (kind: string) => ({
  subject: s(`events.*.${kind}`),
  subjectFor: (analysisId: AnalysisId): string => s(`events.${analysisId}.${kind}`),
});

export const analysisEvents = {
  progress: {
    ...eventSubjects("progress"),
    schema: z.object({ analysisId: AnalysisId, videoId: MediaId, progress: AnalysisProgress, at: z.iso.datetime() }),
  },
  completed: {
    ...eventSubjects("completed"),
    schema: z.object({
      analysisId: AnalysisId,
      videoId: MediaId,
      questionCount: z.number().int(),
      at: z.iso.datetime(),
    }),
  },
  failed: {
    ...eventSubjects("failed"),
    schema: z.object({ analysisId: AnalysisId, videoId: MediaId, error: AnalysisError, at: z.iso.datetime() }),
  },
  cancelled: {
    ...eventSubjects("cancelled"),
    schema: z.object({ analysisId: AnalysisId, videoId: MediaId, at: z.iso.datetime() }),
  },
} as const;
export type AnalysisEventKind = keyof typeof analysisEvents;
/** The kind of an analysis event subject (`analysis.v1.events.<analysisId>.<kind>`): its SSE `event:`. */
export const analysisEventKindOf = (subj: string): string => lastTokenOf(subj);
/** Events after which an analysis has no more. */
export const isTerminalAnalysisEvent = (kind: string): boolean =>
  kind === "completed" || kind === "failed" || kind === "cancelled";
