import { type AnalysisError, TrellisError } from "@trellis/contracts";
import { UnrecoverableError } from "bullmq";
import { CancelledError } from "../errors/cancelled-error.ts";
import { FinalError } from "../errors/final-error.ts";
import { SHUTTING_DOWN } from "./cancel.ts";

/** How a run ended when it did not complete. */
export type Outcome =
  | { kind: "cancelled" }
  | { kind: "handed-back" }
  | { kind: "failed"; error: AnalysisError }
  | { kind: "retry"; error: AnalysisError };

/** What decides an outcome besides the error: BullMQ's signal, the job's own timeout, its attempts. */
export interface RunState {
  /** BullMQ's signal: aborted by a cancel broadcast (`CANCELLED`) or at shutdown (`SHUTTING_DOWN`). */
  signal: AbortSignal;
  timeout: AbortSignal;
  attemptsStarted: number;
  attempts: number;
}

/**
 * The outcome of a run that threw, by the error's class (never its message): an abort first (a
 * cancel or a shutdown, whatever the step then threw), then the timeout; a `CancelledError` is a
 * cancel seen between steps; a `FinalError` fails with its code, any other `UnrecoverableError`
 * with `failed`; anything else is transient and retried while attempts remain.
 */
export function outcomeOf(err: unknown, run: RunState): Outcome {
  if (run.signal.aborted) return run.signal.reason === SHUTTING_DOWN ? { kind: "handed-back" } : { kind: "cancelled" };
  if (run.timeout.aborted) {
    return { kind: "failed", error: { code: "deadline_exceeded", message: "the analysis took too long" } };
  }
  if (err instanceof CancelledError) return { kind: "cancelled" };
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof FinalError) return { kind: "failed", error: { code: err.code, message } };
  if (err instanceof UnrecoverableError) return { kind: "failed", error: { code: "failed", message } };
  const code = err instanceof TrellisError ? err.code : "internal";
  if (run.attemptsStarted >= run.attempts) return { kind: "failed", error: { code, message } };
  return { kind: "retry", error: { code, message } };
}
