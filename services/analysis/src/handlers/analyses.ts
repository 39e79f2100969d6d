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
import { mayAccess } from "../domain/access.ts";
import { exportQuestions } from "../domain/export.ts";
import { broadcastCancel } from "../jobs/cancel.ts";
import { NO_TRANSCRIPT } from "../steps/transcript.ts";
import { createAndEnqueue } from "./start.ts";

type AnalysisHandlers = Omit<Handlers<typeof analysisJobsCatalog>, "health">;

const notFound = () => new TrellisError("not_found", "no such analysis");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function visible(t: AnalysisContext, actor: Principal, id: string): Promise<Analysis> {
  const a = await t.store.get(id);
  if (!a || !mayAccess(actor, a.ownerId)) throw notFound();
  return a;
}

/** The questions of an analysis that failed for want of a transcript (a URL without captions): 404, as seed 001. */
function withQuestions(a: Analysis): Analysis {
  if (a.state === "failed" && a.error?.message === NO_TRANSCRIPT) throw new TrellisError("not_found", NO_TRANSCRIPT);
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
      const actor = req.actor;
      if (actor.kind !== "user") throw new TrellisError("forbidden", "monitors have no analyses");
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
      await t.store.requestCancel(a.id);
      const job = await t.queue.getJob(a.id);
      const jobState = job ? await job.getState() : "unknown";
      if (job && jobState !== "active") {
        // Waiting or delayed (between retries): removed from the queue; it fails when a worker has it.
        const removed = await job.remove().then(
          () => true,
          () => false,
        );
        if (removed && (await t.store.finish(a.id, "cancelled", new Date()))) {
          t.publish("cancelled", { analysisId: a.id, videoId: a.videoId, at: new Date().toISOString() });
        }
      } else if (!job && (await t.store.finish(a.id, "cancelled", new Date()))) {
        t.publish("cancelled", { analysisId: a.id, videoId: a.videoId, at: new Date().toISOString() });
      }
      broadcastCancel(t.nc, a.id);
      // The holder kills its children and deletes partial keyframes, then records `cancelled`.
      const until = Date.now() + t.cancelWaitMs;
      let now = await t.store.get(a.id);
      while (now && !isFinishedState(now.state) && Date.now() < until) {
        await sleep(50);
        now = await t.store.get(a.id);
      }
      return { id: a.id, state: now?.state ?? "cancelled", previousState: a.state };
    },

    async questions(req) {
      const a = withQuestions(await visible(t, req.actor, req.analysisId));
      return { items: await t.store.questionsOf(a.id) };
    },

    async exportQuestions(req) {
      const a = withQuestions(await visible(t, req.actor, req.analysisId));
      return exportQuestions(a, await t.store.questionsOf(a.id), req.format);
    },
  };
}
