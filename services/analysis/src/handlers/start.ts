import type { Analysis, Principal } from "@trellis/contracts";
import { TrellisError } from "@trellis/contracts";
import type { AnalysisContext } from "../context.ts";
import { enqueue } from "../jobs/queue.ts";
import type { NewAnalysis } from "../store/analyses.ts";

/**
 * Records a waiting analysis and queues its job, unless one is waiting or active for the same
 * video (then that one, `created: false`). A job that cannot be queued leaves the analysis failed.
 */
export async function createAndEnqueue(
  t: Pick<AnalysisContext, "store" | "queue">,
  a: NewAnalysis,
  actor: Principal,
): Promise<{ created: boolean; analysis: Analysis }> {
  const result = await t.store.create(a, new Date());
  if (!result.created) {
    const existing = await t.store.get(result.id);
    if (!existing) throw new TrellisError("unavailable", "the video's analysis just changed; retry");
    return { created: false, analysis: existing };
  }
  try {
    await enqueue(t.queue, {
      analysisId: a.id,
      videoId: a.videoId,
      ownerId: a.ownerId,
      title: a.title,
      numQuestions: a.numQuestions,
      keyframeInterval: a.keyframeInterval,
      actor,
      ...(a.url ? { url: a.url } : {}),
    });
  } catch (err) {
    await t.store.finish(a.id, "failed", new Date(), { error: { code: "unavailable", message: "could not queue" } });
    throw new TrellisError("unavailable", "the job queue is unavailable", { cause: err });
  }
  return result;
}
