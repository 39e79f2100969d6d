import {
  type Analysis,
  isFinishedState,
  isTrellisError,
  mediaCatalog,
  type Principal,
  TrellisError,
} from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { AnalysisContext } from "../context.ts";
import { stopAnalysis } from "../jobs/stop.ts";
import type { AnswersStore } from "../store/answers.ts";

export type CascadeDeps = Pick<AnalysisContext, "nc" | "store" | "queue" | "publish" | "cancelWaitMs"> & {
  answers: AnswersStore;
  /** Of the dead-letter stream, when a cascade consumer creates it (JETSTREAM_REPLICAS). */
  replicas?: number;
};

/**
 * The principal the cascade deletes a video's keyframes as: the video's owner (media lets an owner
 * delete their pictures). Only the analysis service's trusted NATS connection can send it.
 */
export const ownerPrincipal = (ownerId: string): Principal => ({
  kind: "user",
  userId: ownerId,
  username: "analysis-cascade",
  role: "user",
  sessionId: "analysis-cascade",
});

/** Deletes keyframes in media; one already gone (media's own cascade of a deleted user) is fine. */
async function deleteKeyframes(d: CascadeDeps, a: Analysis): Promise<void> {
  const actor = ownerPrincipal(a.ownerId);
  for (const pictureId of a.keyframeIds) {
    try {
      await request(d.nc, mediaCatalog.deletePicture, { actor, pictureId });
    } catch (err) {
      if (isTrellisError(err) && err.code === "not_found") continue;
      throw err; // media unavailable: the event is retried later
    }
  }
}

/**
 * Removes one analysis and everything of it: its job (an unfinished one is stopped first, as a
 * cancel does), its keyframes in media, its learners' answers, its questions and its record. Each
 * step is idempotent, so a retry after a failure part-way finishes the work. A job whose holder
 * has not confirmed the stop yet is `unavailable` (retryable): the event comes back later.
 */
export async function removeAnalysis(d: CascadeDeps, found: Analysis): Promise<void> {
  let a = found;
  if (!isFinishedState(a.state)) {
    const state = await stopAnalysis(d, a);
    if (!isFinishedState(state)) throw new TrellisError("unavailable", `analysis ${a.id} is still stopping`);
    a = (await d.store.get(a.id)) ?? a;
  }
  await deleteKeyframes(d, a);
  await d.answers.removeOfAnalysis(a.id);
  await d.store.remove(a);
  const job = await d.queue.getJob(a.id);
  await job?.remove().catch(() => undefined); // a finished job's record in Redis; gone with its retention anyway
}

/** Removes every analysis of a video, or of every video of an owner. The ids removed. */
export async function removeAnalysesOf(
  d: CascadeDeps,
  filter: { videoId: string } | { ownerId: string },
): Promise<string[]> {
  const removed: string[] = [];
  for (const a of await d.store.allOf(filter)) {
    await removeAnalysis(d, a);
    removed.push(a.id);
  }
  return removed;
}
