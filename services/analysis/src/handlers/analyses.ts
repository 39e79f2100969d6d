import { randomUUID } from "node:crypto";
import {
  type Analysis,
  type analysisJobsCatalog,
  isFinishedState,
  mediaCatalog,
  type Principal,
  TrellisError,
} from "@trellis/contracts";
import { type Handlers, request } from "@trellis/runtime";
import type { AnalysisContext } from "../context.ts";
import { mayAccess, mayAnswer, requireUser } from "../domain/access.ts";
import { exportQuestions } from "../domain/export.ts";
import { learnerView } from "../domain/grading.ts";
import { NO_TRANSCRIPT } from "../errors/no-transcript-error.ts";
import { stopAnalysis } from "../jobs/stop.ts";
import { createAndEnqueue } from "./start.ts";

type AnalysisHandlers = Omit<Handlers<typeof analysisJobsCatalog>, "health">;

const notFound = () => new TrellisError("not_found", "no such analysis");

async function visible(t: AnalysisContext, actor: Principal, id: string): Promise<Analysis> {
  requireUser(actor);
  const a = await t.store.get(id);
  if (!a || !mayAccess(actor, a.ownerId)) throw notFound();
  return a;
}

/**
 * The questions of an analysis that failed with `not_found` (no transcript: `NoTranscriptError`,
 * e.g. a URL without captions): 404 with its message, as seed 001.
 */
function withQuestions(a: Analysis): Analysis {
  if (a.state === "failed" && a.error?.code === "not_found") throw new TrellisError("not_found", a.error.message);
  return a;
}

export function analysisHandlers(t: AnalysisContext): AnalysisHandlers {
  return {
    async start(req, ctx) {
      // Media decides who may see the video (owner or admin; not_found for anyone else).
      const video = await request(
        t.nc,
        mediaCatalog.getVideo,
        { actor: req.actor, videoId: req.videoId },
        { requestId: ctx.requestId },
      );
      if (!video.hasTranscript) throw new TrellisError("not_found", NO_TRANSCRIPT);
      return createAndEnqueue(
        t,
        {
          id: randomUUID(),
          videoId: video.id,
          ownerId: video.ownerId,
          title: req.title,
          numQuestions: req.numQuestions,
          keyframeInterval: req.keyframeInterval,
        },
        req.actor,
      );
    },

    async get(req) {
      return visible(t, req.actor, req.analysisId);
    },

    async list(req) {
      const actor = requireUser(req.actor);
      const ownerId = actor.role === "admin" ? undefined : actor.userId;
      const items = await t.store.list(
        { ...(req.videoId ? { videoId: req.videoId } : {}), ...(ownerId ? { ownerId } : {}) },
        req.limit,
      );
      return { items };
    },

    async cancel(req, ctx) {
      const a = await visible(t, req.actor, req.analysisId);
      ctx.log.info({ analysisId: a.id, state: a.state }, "cancel requested");
      if (isFinishedState(a.state)) throw new TrellisError("conflict", `the analysis is already ${a.state}`);
      return { id: a.id, state: await stopAnalysis(t, a), previousState: a.state };
    },

    async questions(req) {
      // Learners may read a shared (or tracked) analysis's questions, never their answers.
      requireUser(req.actor);
      const a = await t.store.get(req.analysisId);
      if (!a || !mayAnswer(req.actor, a)) throw notFound();
      withQuestions(a);
      const items = await t.store.questionsOf(a.id);
      if (mayAccess(req.actor, a.ownerId)) return { items, answersHidden: false };
      return { items: items.map(learnerView), answersHidden: true };
    },

    async exportQuestions(req) {
      const a = withQuestions(await visible(t, req.actor, req.analysisId));
      return exportQuestions(a, await t.store.questionsOf(a.id), req.format);
    },
  };
}
