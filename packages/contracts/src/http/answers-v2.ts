import { z } from "zod";
import { Analysis, AnalysisId } from "../analysis.ts";
import { AnswerResult, AnswerText, MyAnswers, QuestionRef, Quiz } from "../answers.ts";
import { MAX_VIDEO_URL_LENGTH } from "../tracked-videos.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const e = (description: string) => ({ description, schema: ErrorResponse });
const tags = ["answers"];

/**
 * Learners answering an analysis's questions, and the owner's sharing switch. Who may answer: the
 * owner and admins, and any signed-in user when the analysis is shared or linked to a tracked
 * video. Anyone else gets **404**, as for an id that does not exist (as media answers for videos).
 */
export const answersV2Routes = {
  submitAnswer: route({
    method: "post",
    path: "/api/v2/questions/:id/answers",
    operationId: "submitAnswer",
    summary:
      "Answer a question: graded at once (case, spacing, surrounding punctuation and a leading article are ignored; a multiple-choice answer must be one of the options). Each user answers a question once: the first answer is recorded and counted (engagement of the linked tracked video); submitting again answers 200 with that first grading and `alreadyAnswered: true`.",
    tags,
    auth: "bearer",
    params: z.object({ id: QuestionRef }),
    body: z.object({ answer: AnswerText }),
    responses: {
      200: { description: "The grading, with the correct answer and its explanation.", schema: AnswerResult },
      404: e("No such question, or not one the caller may answer."),
      ...authErrors,
      400: e("The body is malformed, or a multiple-choice answer is not one of the options."),
    },
  }),
  quiz: route({
    method: "get",
    path: "/api/v2/analyses/:id/quiz",
    operationId: "getQuiz",
    summary:
      "An analysis as a learner takes it: title, state, question count, the video it plays (`GET /api/v2/analyses/{id}/video`, or `url` for a URL analysis), whether it is shared and the tracked video its views and answers count into. `owner` is true for its owner and admins.",
    tags,
    auth: "bearer",
    params: z.object({ id: AnalysisId }),
    responses: {
      200: { description: "The quiz.", schema: Quiz },
      404: e("No such analysis, or not one the caller may answer."),
      ...authErrors,
    },
  }),
  myAnswers: route({
    method: "get",
    path: "/api/v2/analyses/:id/my-answers",
    operationId: "getMyAnswers",
    summary:
      "The caller's own answers to an analysis's questions (answer, correct, correct answer, when) and the score: correct ÷ questions.",
    tags,
    auth: "bearer",
    params: z.object({ id: AnalysisId }),
    responses: {
      200: { description: "The caller's results.", schema: MyAnswers },
      404: e("No such analysis, or not one the caller may answer."),
      ...authErrors,
    },
  }),
  updateAnalysis: route({
    method: "patch",
    path: "/api/v2/analyses/:id",
    operationId: "updateAnalysis",
    summary:
      "Share an analysis (`shared: true`: any signed-in user may read its questions without answers and answer them) or link it to a tracked video (`tracked_url`: its answers count into that video's engagement, and it is answerable by any signed-in user; null unlinks). Owner or admin.",
    tags: ["analyses"],
    auth: "bearer",
    params: z.object({ id: AnalysisId }),
    body: z
      .object({
        shared: z.boolean().optional(),
        tracked_url: z.string().min(1).max(MAX_VIDEO_URL_LENGTH).nullable().optional(),
      })
      .strict()
      .refine((v) => v.shared !== undefined || v.tracked_url !== undefined, "give shared and/or tracked_url")
      .meta({ anyOf: [{ required: ["shared"] }, { required: ["tracked_url"] }] }),
    responses: {
      200: { description: "The analysis after the change.", schema: Analysis },
      404: e("No such analysis, or not one the caller can see."),
      ...authErrors,
      400: e("The body is malformed, or `tracked_url` is not a tracked video."),
      403: e("The caller can read this shared analysis but is not its owner or an admin."),
    },
  }),
} as const;
