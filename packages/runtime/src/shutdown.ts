import type { Logger } from "pino";

type Step = { name: string; run: () => unknown };

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * One registry of cleanup steps per process. Steps run in reverse order of registration (so the
 * last thing opened closes first: stop taking work → drain NATS → close databases), each at most
 * once, each even if an earlier one failed, and the whole under a deadline.
 */
export class Shutdown {
  private readonly steps: Step[] = [];
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
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
        } catch (err) {
          clean = false;
          this.log.error({ err, step: step.name }, "shutdown step failed");
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
