import type { Question } from "@trellis/contracts";
import { progressAt } from "../domain/progress.ts";
import type { StepContext } from "./context.ts";

/** Stores the questions of the analysis (replacing any of an earlier attempt). */
export async function saveQuestions(ctx: StepContext, questions: readonly Question[]): Promise<void> {
  ctx.report(progressAt("saving", 0));
  ctx.signal.throwIfAborted();
  await ctx.store.saveQuestions(ctx.job.analysisId, questions);
  ctx.report(progressAt("saving", 1));
}
