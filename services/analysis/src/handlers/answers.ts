import {
  type AnswerResult,
  type analysisCatalog,
  isTrellisError,
  type Question,
  TrellisError,
} from "@trellis/contracts";
import type { ServiceParts } from "@trellis/runtime";
import type { Logger } from "pino";
import { mayAccess, mayAnswer, requireUser } from "../domain/access.ts";
import { grade, scoreOf } from "../domain/grading.ts";
import type { AnalysesStore } from "../store/analyses.ts";
import type { AnswerDoc, AnswersStore } from "../store/answers.ts";
import { canonicalUrl, recordAnswer } from "../tracked/handlers.ts";
import type { TrackedVideosStore } from "../tracked/store.ts";

type Handlers = ServiceParts<typeof analysisCatalog>["handlers"];
export type AnswerHandlers = Pick<Handlers, "submitAnswer" | "myAnswers" | "quiz" | "updateAnalysis">;

export interface AnswersDeps {
  store: AnalysesStore;
  answers: AnswersStore;
  tracked: TrackedVideosStore;
}

const noQuestion = () => new TrellisError("not_found", "no such question");
const noAnalysis = () => new TrellisError("not_found", "no such analysis");

const resultOf = (q: Question, doc: AnswerDoc, alreadyAnswered: boolean): AnswerResult => ({
  questionId: q.id,
  analysisId: q.analysisId,
  answer: doc.answer,
  correct: doc.correct,
  correctAnswer: q.answer,
  ...(q.explanation ? { explanation: q.explanation } : {}),
  answeredAt: doc.answeredAt.toISOString(),
  alreadyAnswered,
});

/**
 * Counts a recorded answer into the linked tracked video's engagement, once per answer (a claim on
 * the answer record). A failure gives the claim back and is logged: the learner's answer is kept
 * either way, and their next submission of this question counts it.
 */
async function countIntoEngagement(
  d: AnswersDeps,
  log: Pick<Logger, "warn">,
  url: string,
  doc: AnswerDoc,
): Promise<void> {
  if (!(await d.answers.claimCount(doc.questionId, doc.userId))) return;
  try {
    await recordAnswer(d.tracked, url, doc.questionId, doc.correct);
  } catch (err) {
    if (isTrellisError(err) && err.code === "not_found") return; // no longer tracked: nothing to count into
    await d.answers.releaseCount(doc.questionId, doc.userId).catch(() => undefined);
    log.warn({ err, questionId: doc.questionId }, "answer not counted into engagement");
  }
}

export function answerHandlers(d: AnswersDeps): AnswerHandlers {
  return {
    async submitAnswer({ actor, questionId, answer }, ctx) {
      requireUser(actor);
      const question = await d.store.getQuestion(questionId);
      if (!question) throw noQuestion();
      const analysis = await d.store.get(question.analysisId);
      // Someone who may not answer it learns nothing, not even that the question exists.
      if (!analysis || !mayAnswer(actor, analysis) || actor.kind !== "user") throw noQuestion();
      const graded = grade(question, answer);
      if (!graded.ok) throw new TrellisError("invalid_argument", graded.reason);
      const { created, doc } = await d.answers.record({
        questionId: question.id,
        analysisId: analysis.id,
        userId: actor.userId,
        answer,
        correct: graded.correct,
        answeredAt: new Date(),
        counted: analysis.trackedUrl === null,
      });
      if (analysis.trackedUrl !== null) await countIntoEngagement(d, ctx.log, analysis.trackedUrl, doc);
      return resultOf(question, doc, !created);
    },

    async myAnswers({ actor, analysisId }) {
      requireUser(actor);
      const analysis = await d.store.get(analysisId);
      if (!analysis || !mayAnswer(actor, analysis) || actor.kind !== "user") throw noAnalysis();
      const [questions, mine] = await Promise.all([
        d.store.questionsOf(analysis.id),
        d.answers.ofUser(analysis.id, actor.userId),
      ]);
      const byQuestion = new Map(mine.map((a) => [a.questionId, a]));
      const items = questions.flatMap((q) => {
        const a = byQuestion.get(q.id);
        if (!a) return [];
        const { alreadyAnswered: _a, analysisId: _b, ...item } = resultOf(q, a, true);
        return [item];
      });
      const correct = items.filter((i) => i.correct).length;
      return {
        analysisId: analysis.id,
        items,
        total: questions.length,
        answered: items.length,
        correct,
        score: scoreOf(correct, questions.length),
      };
    },

    async quiz({ actor, analysisId }) {
      requireUser(actor);
      const a = await d.store.get(analysisId);
      if (!a || !mayAnswer(actor, a)) throw noAnalysis();
      return {
        analysisId: a.id,
        title: a.title,
        videoId: a.videoId,
        ...(a.url !== undefined ? { url: a.url } : {}),
        ...(a.youtubeId !== undefined ? { youtubeId: a.youtubeId } : {}),
        state: a.state,
        questionCount: a.questionCount,
        shared: a.shared,
        trackedUrl: a.trackedUrl,
        owner: mayAccess(actor, a.ownerId),
      };
    },

    async updateAnalysis({ actor, analysisId, sharing }) {
      requireUser(actor);
      const analysis = await d.store.get(analysisId);
      if (!analysis) throw noAnalysis();
      if (!mayAccess(actor, analysis.ownerId)) {
        if (mayAnswer(actor, analysis)) throw new TrellisError("forbidden", "only its owner or an admin may change it");
        throw noAnalysis();
      }
      let trackedUrl: string | null | undefined = sharing.trackedUrl;
      if (typeof trackedUrl === "string") {
        const key = canonicalUrl(trackedUrl).url;
        if (!(await d.tracked.get(key)))
          throw new TrellisError("invalid_argument", "tracked_url is not a tracked video");
        trackedUrl = key;
      }
      const after = await d.store.setSharing(analysis.id, {
        ...(sharing.shared !== undefined ? { shared: sharing.shared } : {}),
        ...(trackedUrl !== undefined ? { trackedUrl } : {}),
      });
      if (!after) throw noAnalysis();
      return after;
    },
  };
}
