/**
 * A paced JetStream publisher: a total rate spread round-robin over several publishers (devices),
 * a bounded number of publishes waiting for their PubAck, a count and/or a duration, and
 * statistics (acks, failures with reasons, ack latency).
 */
import { performance } from "node:perf_hooks";
import type { JetStreamClient } from "@nats-io/jetstream";
import { withJsRetry } from "@trellis/runtime";

export interface PublishTarget {
  /** Shown in failure reasons. */
  readonly name: string;
  readonly js: JetStreamClient;
  readonly subject: string;
  /** The next message of this target and its `Nats-Msg-Id` (unique per message). */
  next(): { payload: string | Uint8Array; msgID: string };
  /**
   * False while this target takes no part in the round-robin (a simulated device told to publish
   * at its own interval): its turns are skipped, the others keep theirs. Absent: always part.
   */
  due?(): boolean;
}

export interface PublishPlan {
  /** Total messages per second over all targets; omitted: as fast as acks allow. */
  rate?: number;
  /** Stop after this many messages (at least one of `count` and `durationMs` is required). */
  count?: number;
  /** Stop sending after this long. */
  durationMs?: number;
  /** Most publishes waiting for their ack at once. */
  inFlight: number;
  /** How long one publish waits for its ack (ms). */
  ackTimeoutMs?: number;
  /**
   * How long a publish is retried after a transient failure (a timeout or no stream leader, as
   * during a NATS node's failover), with the same `Nats-Msg-Id`, so the reading is stored exactly
   * once; default 60 s, within the readings stream's duplicate window. 0: no retry.
   */
  retryForMs?: number;
  /** Stops sending (what is in flight is still awaited). */
  signal?: AbortSignal;
  /** Called when a message is acknowledged: its target index and ack latency (ms). */
  onAck?: (target: number, latencyMs: number) => void;
}

export interface PublishStats {
  sent: number;
  acked: number;
  /** Acks that reported the message as a duplicate (a `Nats-Msg-Id` seen before): not stored again. */
  duplicates: number;
  failed: number;
  /** Failure reasons and how often each occurred, in order of first occurrence. */
  failures: Map<string, number>;
  /** From the first publish until the last ack or failure (ms). */
  elapsedMs: number;
  /** From the first publish until sending stopped (count reached, duration over, or aborted) (ms). */
  sendingMs: number;
  /** Ack latency percentiles (ms) over a uniform sample of all acks. */
  latency: { p50: number; p99: number; max: number };
  /** Average payload size in bytes. */
  avgBytes: number;
  interrupted: boolean;
}

/** Latency samples kept (a uniform reservoir sample beyond that). */
const RESERVOIR = 200_000;

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** A uniform sample of at most `size` values, and percentiles over it. */
export class Reservoir {
  private readonly size: number;
  private readonly values: number[] = [];
  private seen = 0;
  max = Number.NaN;

  constructor(size = RESERVOIR) {
    this.size = size;
  }

  add(v: number): void {
    this.seen++;
    if (!(v <= this.max)) this.max = v;
    if (this.values.length < this.size) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.size) this.values[j] = v;
    }
  }

  get count(): number {
    return this.seen;
  }

  summary(): { p50: number; p99: number; max: number } {
    const sorted = Float64Array.from(this.values).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: this.max };
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

const reasonOf = (err: unknown): string => {
  const e = err as { message?: string; code?: string };
  return (e?.message ?? String(err)).slice(0, 300);
};

/**
 * Publishes until `count` messages were sent, `durationMs` passed or `signal` aborts, then waits
 * for what is in flight. Pacing: message k is due at `k / rate` s after the start (a token bucket
 * without burst cap, bounded by `inFlight`), and the loop sleeps until the next one is due, so it
 * never busy-waits; without a rate it sends whenever fewer than `inFlight` acks are pending.
 */
export async function publishPaced(targets: readonly PublishTarget[], plan: PublishPlan): Promise<PublishStats> {
  if (targets.length === 0) throw new Error("publishPaced: no targets");
  if (plan.count === undefined && plan.durationMs === undefined) {
    throw new Error("publishPaced: give a count, a duration or both");
  }
  if (!(plan.inFlight >= 1)) throw new Error("publishPaced: inFlight must be at least 1");
  if (plan.rate !== undefined && !(plan.rate > 0)) throw new Error("publishPaced: rate must be positive");

  const stats: PublishStats = {
    sent: 0,
    acked: 0,
    duplicates: 0,
    failed: 0,
    failures: new Map(),
    elapsedMs: 0,
    sendingMs: 0,
    latency: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
    avgBytes: 0,
    interrupted: false,
  };
  const latencies = new Reservoir();
  const limit = plan.count ?? Number.POSITIVE_INFINITY;
  let bytes = 0;
  let inFlight = 0;
  let slotFreed: (() => void) | undefined;
  let lastDoneAt = 0;
  const start = performance.now();
  const deadline = plan.durationMs === undefined ? Number.POSITIVE_INFINITY : start + plan.durationMs;

  const settle = () => {
    inFlight--;
    lastDoneAt = performance.now();
    const wake = slotFreed;
    slotFreed = undefined;
    wake?.();
  };

  // Turns handed out so far; equal to `stats.sent` unless some target's turn was skipped (`due`).
  let turns = 0;
  const send = (index: number) => {
    turns++;
    const target = targets[index] as PublishTarget;
    if (target.due && !target.due()) return;
    const { payload, msgID } = target.next();
    bytes += typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
    const sentAt = performance.now();
    inFlight++;
    stats.sent++;
    const publish = () =>
      target.js.publish(target.subject, payload, {
        msgID,
        ...(plan.ackTimeoutMs ? { timeout: plan.ackTimeoutMs } : {}),
      });
    const retryForMs = plan.retryForMs ?? 60_000;
    (retryForMs > 0 ? withJsRetry(publish, { deadlineMs: retryForMs, maxDelayMs: 1_000 }) : publish()).then(
      (ack) => {
        const latency = performance.now() - sentAt;
        stats.acked++;
        if (ack.duplicate) stats.duplicates++;
        latencies.add(latency);
        plan.onAck?.(index, latency);
        settle();
      },
      (err: unknown) => {
        stats.failed++;
        const reason = `${target.name}: ${reasonOf(err)}`;
        stats.failures.set(reason, (stats.failures.get(reason) ?? 0) + 1);
        settle();
      },
    );
  };

  for (;;) {
    if (plan.signal?.aborted) {
      stats.interrupted = true;
      break;
    }
    const now = performance.now();
    if (stats.sent >= limit || now >= deadline) break;
    const skipped = turns - stats.sent;
    const due =
      plan.rate === undefined
        ? limit + skipped
        : Math.min(limit + skipped, Math.floor(((now - start) * plan.rate) / 1000) + 1);
    if (turns < due && inFlight < plan.inFlight) {
      // Send what is due now (at most up to the window), then give the event loop a turn.
      const n = Math.min(due - turns, plan.inFlight - inFlight);
      for (let i = 0; i < n; i++) send(turns % targets.length);
      await new Promise<void>((resolve) => setImmediate(resolve));
    } else if (inFlight >= plan.inFlight) {
      await new Promise<void>((resolve) => {
        slotFreed = resolve;
      });
    } else {
      // Nothing due yet: sleep until the next message is (at least 1 ms; setTimeout's resolution).
      const nextDueAt = start + (turns * 1000) / (plan.rate as number);
      await sleep(Math.max(1, Math.min(nextDueAt, deadline) - now), plan.signal);
    }
  }

  stats.sendingMs = performance.now() - start;
  while (inFlight > 0) {
    await new Promise<void>((resolve) => {
      slotFreed = resolve;
    });
  }
  stats.elapsedMs = (lastDoneAt || performance.now()) - start;
  stats.latency = latencies.summary();
  stats.avgBytes = stats.sent ? bytes / stats.sent : 0;
  return stats;
}

/** The first `n` failure reasons with their counts, for a summary. */
export function firstFailures(stats: PublishStats, n = 5): string[] {
  return [...stats.failures].slice(0, n).map(([reason, count]) => `${count} x ${reason}`);
}
