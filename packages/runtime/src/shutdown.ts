import type { Logger } from "pino";

type Step = { name: string; run: () => unknown };

/** An ordered block of steps: its phases run in their listed order, a phase's steps together. */
type Phased = { order: readonly string[]; phases: Map<string, Step[]> };

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/** Adds steps to the named phases of one `Shutdown.phases` block. */
export interface ShutdownPhases<P extends string> {
  /** Runs `run` in `phase`, alongside the phase's other steps. */
  add(phase: P, name: string, run: () => unknown): void;
  /** Adds `part.stop()` to `phase` and returns `part`: `const ingest = stop.started("drain", "ingest", await startIngest())`. */
  started<T extends { stop(): unknown }>(phase: P, name: string, part: T): T;
}

/**
 * One registry of cleanup steps per process. Steps run in reverse order of registration (so the
 * last thing opened closes first: stop taking work → drain NATS → close databases), each at most
 * once, each even if an earlier one failed, and the whole under a deadline. A service whose stop
 * order is not simply the reverse of its start declares it as a list of phases (`phases`).
 */
export class Shutdown {
  private readonly steps: (Step | Phased)[] = [];
  private running: Promise<boolean> | undefined;

  private readonly log: Logger;
  private readonly timeoutMs: number;

  constructor(log: Logger, timeoutMs: number) {
    this.log = log;
    this.timeoutMs = timeoutMs;
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  add(name: string, run: () => unknown): void {
    this.steps.push({ name, run });
  }

  /**
   * Declares a stop order as named phases, run first to last at this point of the registry (after
   * what is registered later, before what was registered earlier). Steps are added to a phase as
   * what they stop starts, so a start-up that fails half way stops what it had started, in order.
   * A phase's steps run together; the next phase starts when all of them have ended.
   */
  phases<const P extends string>(order: readonly P[]): ShutdownPhases<P> {
    const block: Phased = { order, phases: new Map(order.map((p) => [p, []])) };
    this.steps.push(block);
    const add = (phase: P, name: string, run: () => unknown) => {
      block.phases.get(phase)?.push({ name, run });
    };
    return {
      add,
      started: (phase, name, part) => {
        add(phase, name, () => part.stop());
        return part;
      },
    };
  }

  /** Runs every step; resolves true when all finished cleanly within the deadline. Idempotent. */
  run(reason: string): Promise<boolean> {
    this.running ??= this.runSteps(reason);
    return this.running;
  }

  private async runSteps(reason: string): Promise<boolean> {
    this.log.info({ reason }, "shutting down");
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
    });
    const all = (async () => {
      let clean = true;
      for (const entry of [...this.steps].reverse()) {
        if (!("order" in entry)) {
          clean = (await this.runStep(entry)) && clean;
          continue;
        }
        for (const phase of entry.order) {
          const steps = entry.phases.get(phase) ?? [];
          if (steps.length === 0) continue;
          this.log.debug({ phase, steps: steps.map((s) => s.name) }, "shutdown phase");
          const results = await Promise.all(steps.map((s) => this.runStep(s, phase)));
          clean = results.every(Boolean) && clean;
        }
      }
      return clean;
    })();
    const clean = await Promise.race([all, deadline]);
    clearTimeout(timer);
    if (clean) this.log.info("shutdown complete");
    else this.log.warn({ timeoutMs: this.timeoutMs }, "shutdown incomplete");
    return clean;
  }

  private async runStep(step: Step, phase?: string): Promise<boolean> {
    try {
      await step.run();
      return true;
    } catch (err) {
      this.log.error({ err, step: step.name, ...(phase ? { phase } : {}) }, "shutdown step failed");
      return false;
    }
  }

  /** On SIGTERM / SIGINT: run the steps, flush logs, exit with 128 + signal number. */
  listen(flush: () => void = () => {}): void {
    for (const signal of Object.keys(SIGNAL_NUMBERS) as (keyof typeof SIGNAL_NUMBERS)[]) {
      process.once(signal, () => {
        void this.run(signal).then(() => {
          flush();
          process.exit(128 + SIGNAL_NUMBERS[signal]);
        });
      });
    }
  }
}
