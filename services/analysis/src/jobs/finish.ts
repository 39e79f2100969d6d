import type { AnalysisError } from "@trellis/contracts";
import { progressAt } from "../domain/progress.ts";
import type { PublishEvent } from "../events.ts";
import type { AnalysesStore } from "../store/analyses.ts";

/** What records an analysis's end: its record, and the event its stream ends with. */
export interface Finishing {
  store: Pick<AnalysesStore, "finish">;
  publish: PublishEvent;
}

/** The analysis being finished. */
export interface Finished {
  analysisId: string;
  videoId: string;
}

const now = () => new Date();

/**
 * Each function moves an unfinished analysis to its final state and publishes the terminal event;
 * only the call that made the move publishes (the first final state wins: a cancel racing the
 * job's own end is recorded once). The worker and `stopAnalysis` both finish through these.
 */
export async function finishCancelled(t: Finishing, a: Finished): Promise<void> {
  if (await t.store.finish(a.analysisId, "cancelled", now())) {
    t.publish("cancelled", { ...a, at: now().toISOString() });
  }
}

export async function finishCompleted(
  t: Finishing,
  a: Finished,
  result: { questionCount: number; generator: string },
): Promise<void> {
  const done = progressAt("done", 1);
  if (await t.store.finish(a.analysisId, "completed", now(), { ...result, progress: done })) {
    t.publish("progress", { ...a, progress: done, at: now().toISOString() });
    t.publish("completed", { ...a, questionCount: result.questionCount, at: now().toISOString() });
  }
}

export async function finishFailed(t: Finishing, a: Finished, error: AnalysisError): Promise<void> {
  if (await t.store.finish(a.analysisId, "failed", now(), { error })) {
    t.publish("failed", { ...a, error, at: now().toISOString() });
  }
}
