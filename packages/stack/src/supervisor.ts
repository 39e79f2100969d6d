/**
 * Process supervision for `npm start` and `npm run start:cluster`: a process of the stack (a
 * service or a server) that exits while the stack is not stopping is restarted after a capped
 * exponential backoff with jitter, and its exit cause is logged. A process that keeps crashing
 * (`crashLoop.restarts` restarts within `crashLoop.windowMs`) is a crash loop: the supervisor gives
 * up and the launcher stops everything with that message. The policy parts (`backoffDelay`,
 * `CrashWindow`) are pure, for unit tests; `Supervisor` drives real child processes.
 */
import type { ChildProcess } from "node:child_process";

/** Restart delays: `initialMs × factor^n` for the n-th consecutive restart, at most `maxMs`, minus up to `jitter` of it at random. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Default 2. */
  factor?: number;
  /** Fraction of the delay taken off at random (0: none, 1: "full jitter"); default 0.5. */
  jitter?: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, factor: 2, jitter: 0.5 };

/**
 * The delay before restart number `attempt` (0 for the first restart after a good run). Jitter
 * spreads restarts of processes that died together (a server and the services that lost it) so
 * they do not hammer it in step; the cap keeps a long outage from making recovery slow.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const { initialMs, maxMs, factor = 2, jitter = 0.5 } = policy;
  const capped = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt));
  return Math.round(capped * (1 - jitter * random()));
}

export interface CrashLoopPolicy {
  /** This many restarts of one process... */
  restarts: number;
  /** ...within this window is a crash loop. */
  windowMs: number;
}

export const DEFAULT_CRASH_LOOP: CrashLoopPolicy = { restarts: 5, windowMs: 60_000 };

/** A sliding window of one process's restarts. */
export class CrashWindow {
  private readonly times: number[] = [];
  private readonly policy: CrashLoopPolicy;
  constructor(policy: CrashLoopPolicy) {
    this.policy = policy;
  }

  /** Records a restart at `now`; true when it makes a crash loop (more restarts in the window than allowed). */
  record(now: number): boolean {
    this.times.push(now);
    while (this.times.length > 0 && (this.times[0] as number) <= now - this.policy.windowMs) this.times.shift();
    return this.times.length > this.policy.restarts;
  }

  /** Restarts within the window ending at `now`. */
  count(now: number): number {
    return this.times.filter((t) => t > now - this.policy.windowMs).length;
  }
}

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export const describeExit = (exit: Exit): string =>
  exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;

/** A started process: its pid, when it ends, and how to stop it gracefully. */
export interface Running {
  readonly pid: number | undefined;
  readonly exited: Promise<Exit>;
  /** Stops it (graceful, then forced); resolves once it has exited. */
  stop(): Promise<void>;
}

/** Something the supervisor keeps running. */
export interface Unit {
  /** Unique, e.g. `nats-2`, `telemetry-1`, `gateway-2`. */
  name: string;
  kind: "server" | "service";
  /** Starts it and resolves once it is up (a server: accepting connections); rejects when it cannot. */
  start(): Promise<Running>;
  /** An exit no restart can cure (e.g. a configuration error, exit 78): the message to stop everything with. */
  fatal?(exit: Exit): string | undefined;
}

export type UnitState = "up" | "restarting" | "stopped";

export interface UnitSnapshot {
  kind: Unit["kind"];
  state: UnitState;
  pid: number | undefined;
  restarts: number;
  lastExit?: string;
}

export interface SupervisorOptions {
  backoff?: BackoffPolicy;
  crashLoop?: CrashLoopPolicy;
  /**
   * A process up this long is healthy again: its next restart starts from the first backoff delay.
   * Default 30 s.
   */
  stableAfterMs?: number;
  log: (line: string) => void;
  /** A crash loop: the launcher stops everything (the supervisor stops restarting). */
  onGiveUp: (reason: string) => void;
  /** After any change of a unit's state or pid (the launcher rewrites its state file). */
  onChange?: () => void;
  random?: () => number;
}

interface Entry {
  unit: Unit;
  running: Running | undefined;
  state: UnitState;
  /** Consecutive restarts without a stable run in between. */
  attempt: number;
  /** Restarts since the stack started. */
  restarts: number;
  upSince: number;
  window: CrashWindow;
  timer: NodeJS.Timeout | undefined;
  /** A restart under way (stopAll waits for it, so that nothing it starts outlives the stack). */
  restarting: Promise<void> | undefined;
  lastExit: string | undefined;
}

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: Required<Omit<SupervisorOptions, "onChange" | "random">> &
    Pick<SupervisorOptions, "onChange" | "random">;
  private stopping = false;

  constructor(options: SupervisorOptions) {
    this.opts = {
      backoff: DEFAULT_BACKOFF,
      crashLoop: DEFAULT_CRASH_LOOP,
      stableAfterMs: 30_000,
      ...options,
    };
  }

  /**
   * Starts a unit (or adopts one already `running`, e.g. a server the stack harness started) and
   * keeps it running. Rejects when its first start fails: a stack that cannot start is not retried.
   */
  async add(unit: Unit, running?: Running): Promise<void> {
    if (this.entries.has(unit.name)) throw new Error(`supervisor: ${unit.name} is already supervised`);
    // Stopping (Ctrl-C during start-up): start nothing more; an adopted process is stopped by its owner.
    if (this.stopping) return;
    const entry: Entry = {
      unit,
      running: undefined,
      state: "restarting",
      attempt: 0,
      restarts: 0,
      upSince: Date.now(),
      window: new CrashWindow(this.opts.crashLoop),
      timer: undefined,
      restarting: undefined,
      lastExit: undefined,
    };
    this.entries.set(unit.name, entry);
    const first = (async () => {
      const started = running ?? (await unit.start());
      if (this.stopping && !running) {
        // A stop began while this was starting: stop it here (stopAll waits for this).
        await started.stop();
        entry.state = "stopped";
        return;
      }
      this.watch(entry, started);
    })();
    entry.restarting = first.then(
      () => undefined,
      () => undefined,
    );
    try {
      await first;
    } finally {
      entry.restarting = undefined;
    }
  }

  /** Name → pid of every supervised process that is up. */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(
      [...this.entries].map(([name, e]) => [name, e.state === "up" ? e.running?.pid : undefined]),
    );
  }

  /** Name → state, pid when up, restarts so far and the last unexpected exit (for the launcher's state file). */
  snapshot(): Record<string, UnitSnapshot> {
    return Object.fromEntries(
      [...this.entries].map(([name, e]) => [
        name,
        {
          kind: e.unit.kind,
          state: e.state,
          pid: e.state === "up" ? e.running?.pid : undefined,
          restarts: e.restarts,
          ...(e.lastExit ? { lastExit: e.lastExit } : {}),
        },
      ]),
    );
  }

  /** Units not up right now (being restarted). */
  down(): string[] {
    return [...this.entries].filter(([, e]) => e.state !== "up").map(([name]) => name);
  }

  /**
   * Stops restarting, then stops the units: services first (in parallel), then servers, so
   * services drain against servers that are still there. Idempotent.
   */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    await Promise.allSettled([...this.entries.values()].map((e) => e.restarting));
    const stopKind = (kind: Unit["kind"]) =>
      Promise.allSettled(
        [...this.entries.values()]
          .filter((e) => e.unit.kind === kind && e.running)
          .map(async (e) => {
            await e.running?.stop();
            e.state = "stopped";
          }),
      );
    await stopKind("service");
    await stopKind("server");
    this.opts.onChange?.();
  }

  private watch(entry: Entry, running: Running): void {
    entry.running = running;
    entry.state = "up";
    entry.upSince = Date.now();
    this.opts.onChange?.();
    void running.exited.then((exit) => {
      if (entry.running !== running) return;
      if (this.stopping) {
        entry.state = "stopped";
        return;
      }
      const fatal = entry.unit.fatal?.(exit);
      if (fatal) {
        entry.state = "stopped";
        entry.lastExit = describeExit(exit);
        this.giveUp(`${entry.unit.name} ${describeExit(exit)}: ${fatal}; stopping everything`);
        return;
      }
      this.crashed(entry, describeExit(exit));
    });
  }

  private giveUp(reason: string): void {
    this.opts.log(reason);
    this.stopping = true;
    this.opts.onChange?.();
    this.opts.onGiveUp(reason);
  }

  private crashed(entry: Entry, cause: string): void {
    const { unit } = entry;
    const now = Date.now();
    entry.state = "restarting";
    entry.lastExit = cause;
    if (now - entry.upSince >= this.opts.stableAfterMs) entry.attempt = 0;
    this.opts.onChange?.();
    if (entry.window.record(now)) {
      const { restarts, windowMs } = this.opts.crashLoop;
      const reason =
        `${unit.name} is crash-looping: it exited more than ${restarts} times within ${windowMs / 1000} s ` +
        `(last: ${cause}); stopping everything`;
      this.giveUp(reason);
      return;
    }
    const delay = backoffDelay(entry.attempt, this.opts.backoff, this.opts.random);
    entry.attempt++;
    entry.restarts++;
    this.opts.log(`${unit.name} ${cause} unexpectedly; restarting it in ${delay} ms (restart ${entry.attempt})`);
    entry.timer = setTimeout(() => {
      entry.restarting = this.restart(entry).finally(() => {
        entry.restarting = undefined;
      });
    }, delay);
  }

  private async restart(entry: Entry): Promise<void> {
    if (this.stopping) return;
    let running: Running;
    try {
      running = await entry.unit.start();
    } catch (err) {
      if (this.stopping) return;
      entry.upSince = Date.now();
      this.crashed(entry, `failed to restart (${(err as Error).message.split("\n")[0]})`);
      return;
    }
    if (this.stopping) {
      await running.stop();
      return;
    }
    this.opts.log(`${entry.unit.name} is back (pid ${running.pid})`);
    this.watch(entry, running);
  }
}

/**
 * A child process as a `Running`: `stop()` sends `stopSignal` (SIGTERM unless the server's graceful
 * stop is another signal, e.g. PostgreSQL's fast shutdown, SIGINT) and, after `killAfterMs`, SIGKILL.
 * `detached` children have their own process group: a terminal's Ctrl-C reaches the launcher only,
 * which stops them in order.
 */
export function runningOf(child: ChildProcess, killAfterMs = 15_000, stopSignal: NodeJS.Signals = "SIGTERM"): Running {
  const exited = new Promise<Exit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid,
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill(stopSignal);
        const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
