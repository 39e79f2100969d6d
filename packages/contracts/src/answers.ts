import { z } from "zod";
import { Analysis, AnalysisId, AnalysisState } from "./analysis.ts";
import { endpoint } from "./endpoint.ts";
import { NOT_BLANK, Principal } from "./identity.ts";
import { MediaId } from "./media.ts";
import { subject } from "./services.ts";
import { MAX_VIDEO_URL_LENGTH } from "./tracked-videos.ts";

const s = (name: string) => subject("analysis", 1, name);

/** A question's id (the questions' ids are UUIDs). */
export const QuestionRef = z.uuid();

/** Longest answer a learner may submit. */
export const MAX_ANSWER_LENGTH = 500;
export const AnswerText = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(MAX_ANSWER_LENGTH, `must be at most ${MAX_ANSWER_LENGTH} characters`)
  .meta({ pattern: NOT_BLANK });

/**
 * The grading of a learner's answer. A learner answers a question once: the first answer is the
 * one recorded and counted; submitting again returns that first grading (`alreadyAnswered`).
 */
export const AnswerResult = z.object({
  questionId: QuestionRef,
  analysisId: AnalysisId,
  /** The answer recorded (the first one submitted). */
  answer: z.string(),
  correct: z.boolean(),
  correctAnswer: z.string(),
  explanation: z.string().optional(),
  answeredAt: z.iso.datetime(),
  /** True when this question had been answered before: nothing was recorded or counted this time. */
  alreadyAnswered: z.boolean(),
});
export type AnswerResult = z.infer<typeof AnswerResult>;

/** A learner's own results in one analysis. */
export const MyAnswers = z.object({
  analysisId: AnalysisId,
  items: z.array(
    z.object({
      questionId: QuestionRef,
      answer: z.string(),
      correct: z.boolean(),
      correctAnswer: z.string(),
      explanation: z.string().optional(),
      answeredAt: z.iso.datetime(),
    }),
  ),
  /** Questions in the analysis. */
  total: z.number().int().nonnegative(),
  answered: z.number().int().nonnegative(),
  correct: z.number().int().nonnegative(),
  /** correct ÷ total (unanswered questions count as wrong); null when the analysis has no questions. */
  score: z.number().min(0).max(1).nullable(),
});
export type MyAnswers = z.infer<typeof MyAnswers>;

/** What the owner may change about an analysis: sharing and the tracked video it counts into. */
export const AnalysisSharing = z
  .object({
    shared: z.boolean().optional(),
    /** A tracked video's URL (any form; stored canonical), or null to unlink. */
    trackedUrl: z.string().min(1).max(MAX_VIDEO_URL_LENGTH).nullable().optional(),
  })
  .refine((v) => v.shared !== undefined || v.trackedUrl !== undefined, "nothing to change");
export type AnalysisSharing = z.infer<typeof AnalysisSharing>;

/**
 * What a learner needs to take an analysis as a quiz: its title, the video it plays, its state and
 * the tracked video its views count into. Anyone who may answer it may read it (owner, admin, any
 * signed-in user when it is shared or tracked); the analysis itself stays its owner's.
 */
export const Quiz = z.object({
  analysisId: AnalysisId,
  title: z.string(),
  /** The media video it plays (`/api/v2/analyses/{id}/video`); for a URL analysis, `url` instead. */
  videoId: MediaId,
  /** A URL analysis's video (canonical form): played from there, not from media. */
  url: z.string().optional(),
  youtubeId: z.string().optional(),
  state: AnalysisState,
  questionCount: z.number().int().nonnegative(),
  shared: z.boolean(),
  trackedUrl: z.string().nullable(),
  /** True for its owner and admins (they see answers and may change it). */
  owner: z.boolean(),
});
export type Quiz = z.infer<typeof Quiz>;

const Actor = { actor: Principal };

/** Learners' answers and analysis sharing, served by the analysis service. */
export const answersCatalog = {
  submitAnswer: endpoint({
    subject: s("questions.answer"),
    request: z.object({ ...Actor, questionId: QuestionRef, answer: AnswerText }),
    reply: AnswerResult,
    description:
      "Grades and records a user's answer to a question they may read (owner, admin, or any user when the analysis is shared or linked to a tracked video; not_found otherwise). The first answer per user and question counts.",
  }),
  myAnswers: endpoint({
    subject: s("analyses.my_answers"),
    request: z.object({ ...Actor, analysisId: AnalysisId }),
    reply: MyAnswers,
    description: "The caller's own answers to an analysis's questions, with the score.",
  }),
  quiz: endpoint({
    subject: s("analyses.quiz"),
    request: z.object({ ...Actor, analysisId: AnalysisId }),
    reply: Quiz,
    description:
      "An analysis as a quiz, for anyone who may answer it (owner, admin, or any user when it is shared or linked to a tracked video; not_found otherwise). Media asks it before serving a learner the video.",
  }),
  updateAnalysis: endpoint({
    subject: s("analyses.update"),
    request: z.object({ ...Actor, analysisId: AnalysisId, sharing: AnalysisSharing }),
    reply: Analysis,
    description:
      "Shares an analysis or links it to a tracked video (owner or admin; forbidden for other users who can read it; not_found for the rest).",
  }),
} as const;
