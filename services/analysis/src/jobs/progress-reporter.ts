import type { AnalysisProgress } from "@trellis/contracts";
import type { Job } from "bullmq";
import type { Logger } from "pino";
import { ProgressThrottle } from "../domain/progress.ts";
import type { PublishEvent } from "../events.ts";
import type { AnalysesStore } from "../store/analyses.ts";
import type { Finished } from "./finish.ts";

/**
 * The `report` of a job's steps: throttled (`intervalMs`), each update published as a `progress`
 * event and recorded on the BullMQ job and the analysis. Recording is not waited for: a step never
 * stalls on it, and a failed write is logged.
 */
export function progressReporter(
  deps: {
    job: Pick<Job, "updateProgress">;
    store: Pick<AnalysesStore, "setProgress">;
    publish: PublishEvent;
    log: Pick<Logger, "warn">;
    intervalMs: number;
  },
  a: Finished,
): (progress: AnalysisProgress) => void {
  const throttle = new ProgressThrottle(deps.intervalMs);
  return (progress) => {
    if (!throttle.shouldEmit(progress, performance.now())) return;
    deps.publish("progress", { ...a, progress, at: new Date().toISOString() });
    Promise.all([deps.job.updateProgress(progress), deps.store.setProgress(a.analysisId, progress)]).catch(
      (err: unknown) => deps.log.warn({ err }, "could not record progress"),
    );
  };
}
