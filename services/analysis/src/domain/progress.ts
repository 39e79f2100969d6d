import type { AnalysisProgress, AnalysisStage } from "@trellis/contracts";

/** Where each stage starts and ends in the overall percent. */
const SPAN: Record<AnalysisStage, readonly [number, number]> = {
  queued: [0, 0],
  transcript: [0, 5],
  keyframes: [5, 85],
  questions: [85, 95],
  saving: [95, 100],
  done: [100, 100],
};

/** The overall progress of being `fraction` (0–1) through `stage`. */
export function progressAt(stage: AnalysisStage, fraction: number): AnalysisProgress {
  const [from, to] = SPAN[stage];
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  return { stage, percent: Math.round((from + (to - from) * f) * 10) / 10 };
}

/**
 * Decides which progress updates go out: a stage change always, otherwise at most one per
 * `intervalMs` and only when the percent moved forward.
 */
export class ProgressThrottle {
  private last: AnalysisProgress | undefined;
  private lastAt = Number.NEGATIVE_INFINITY;
  private readonly intervalMs: number;
  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  shouldEmit(next: AnalysisProgress, now: number): boolean {
    const last = this.last;
    const emit =
      last === undefined ||
      last.stage !== next.stage ||
      (next.percent > last.percent && now - this.lastAt >= this.intervalMs);
    if (emit) {
      this.last = next;
      this.lastAt = now;
    }
    return emit;
  }
}
