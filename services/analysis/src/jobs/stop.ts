import { type Analysis, type AnalysisState, isFinishedState } from "@trellis/contracts";
import type { AnalysisContext } from "../context.ts";
import { broadcastCancel } from "./cancel.ts";
import { finishCancelled } from "./finish.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops an unfinished analysis: a waiting (or delayed) job is removed from the queue and recorded
 * `cancelled`; for an active one every instance hears a broadcast and the one whose worker holds
 * it aborts it (children killed, partial keyframes deleted, then `cancelled`). Waits up to
 * `cancelWaitMs` for the final state and returns the state found last (still unfinished when the
 * holder has not confirmed in time). Used by cancel and by the delete cascade.
 */
export async function stopAnalysis(
  t: Pick<AnalysisContext, "nc" | "store" | "queue" | "publish" | "cancelWaitMs">,
  a: Analysis,
): Promise<AnalysisState> {
  await t.store.requestCancel(a.id);
  const job = await t.queue.getJob(a.id);
  // No job: nothing will run it. Waiting or delayed (between retries): removed from the queue (it
  // fails when a worker has it). Active: its holder finishes it (below).
  const unheld =
    !job ||
    ((await job.getState()) !== "active" &&
      (await job.remove().then(
        () => true,
        () => false,
      )));
  if (unheld) await finishCancelled(t, { analysisId: a.id, videoId: a.videoId });
  broadcastCancel(t.nc, a.id);
  // The holder kills its children and deletes partial keyframes, then records `cancelled`.
  const until = Date.now() + t.cancelWaitMs;
  let now = await t.store.get(a.id);
  while (now && !isFinishedState(now.state) && Date.now() < until) {
    await sleep(50);
    now = await t.store.get(a.id);
  }
  return now?.state ?? "cancelled";
}
