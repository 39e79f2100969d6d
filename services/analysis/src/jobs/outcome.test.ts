import { TrellisError } from "@trellis/contracts";
import { UnrecoverableError } from "bullmq";
import { describe, expect, it } from "vitest";
import { CANCELLED, CancelledError } from "../errors/cancelled-error.ts";
import { FinalError } from "../errors/final-error.ts";
import { NO_TRANSCRIPT, NoTranscriptError } from "../errors/no-transcript-error.ts";
import { SHUTTING_DOWN } from "./cancel.ts";
import { outcomeOf, type RunState } from "./outcome.ts";

const live = () => new AbortController().signal;
const abortedWith = (reason: string) => AbortSignal.abort(reason);
const run = (over: Partial<RunState> = {}): RunState => ({
  signal: live(),
  timeout: live(),
  attemptsStarted: 1,
  attempts: 3,
  ...over,
});

describe("outcomeOf", () => {
  it("knows a cancel by its class, whatever the message says", () => {
    expect(outcomeOf(new CancelledError(), run())).toEqual({ kind: "cancelled" });
    // The old test compared the message: an unrecoverable error worded "cancelled" is a failure.
    expect(outcomeOf(new UnrecoverableError(CANCELLED), run())).toEqual({
      kind: "failed",
      error: { code: "failed", message: CANCELLED },
    });
  });

  it("an abort decides first: a cancel broadcast, or a shutdown that hands the job back", () => {
    const err = new Error("ffmpeg was killed");
    expect(outcomeOf(err, run({ signal: abortedWith(CANCELLED) }))).toEqual({ kind: "cancelled" });
    expect(outcomeOf(err, run({ signal: abortedWith(SHUTTING_DOWN) }))).toEqual({ kind: "handed-back" });
    expect(outcomeOf(err, run({ timeout: abortedWith("timeout") }))).toEqual({
      kind: "failed",
      error: { code: "deadline_exceeded", message: "the analysis took too long" },
    });
  });

  it("a final error fails with its code; no transcript is not_found however it was found", () => {
    expect(outcomeOf(new NoTranscriptError(), run())).toEqual({
      kind: "failed",
      error: { code: "not_found", message: NO_TRANSCRIPT },
    });
    expect(outcomeOf(new FinalError("forbidden", "not allowed"), run())).toEqual({
      kind: "failed",
      error: { code: "forbidden", message: "not allowed" },
    });
  });

  it("retries anything else while attempts remain, then fails with its code", () => {
    const down = new TrellisError("unavailable", "media is unavailable");
    expect(outcomeOf(down, run({ attemptsStarted: 2 }))).toEqual({
      kind: "retry",
      error: { code: "unavailable", message: "media is unavailable" },
    });
    expect(outcomeOf(new Error("boom"), run({ attemptsStarted: 3 }))).toEqual({
      kind: "failed",
      error: { code: "internal", message: "boom" },
    });
  });
});
