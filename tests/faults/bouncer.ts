/**
 * The bouncer: injects faults into a running stack on a seeded schedule, in the spirit of
 * nats-server's JetStream chaos tests (a bouncer restarting nodes while consumers must see every
 * message). One fault at a time: inject, then wait until the stack is whole again (the killed
 * process restarted by the supervisor with a new pid, `/readyz` 200 on every gateway), which is
 * the fault's recovery time; then a seeded pause before the next one.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { READINGS_STREAM } from "@trellis/contracts";
import type { Launched } from "../support/launch.ts";
import type { Analyses, TusUploads } from "./media.ts";
import { between, shuffled, sleep } from "./prng.ts";

export type FaultKind =
  | "kill -9 service instance"
  | "kill -9 gateway"
  | "kill -9 media mid-PATCH"
  | "kill -9 analysis mid-analysis"
  | "kill -9 readings leader (NATS)"
  | "SIGSTOP/SIGCONT FerretDB"
  | "SIGSTOP/SIGCONT Redis"
  | "kill -9 Redis mid-analysis";

export interface Fault {
  kind: FaultKind;
  /** What it hits: process names of the state file (resolved when it runs, e.g. the leader). */
  target: string;
}

export interface FaultResult {
  kind: FaultKind;
  target: string;
  /** From the fault's end (the kill, or SIGCONT) until every gateway's /readyz is 200 again. */
  recoveryMs: number;
  recovered: boolean;
  /** A condition the fault waited for and did not get (e.g. no analysis was active). */
  note?: string;
}

export interface BouncerDeps {
  stack: Launched;
  random: () => number;
  tus: TusUploads;
  analyses: Analyses;
  /** JetStream management as the services (to find the readings stream's leader); cluster only. */
  jsm?: JetStreamManager;
  log: (line: string) => void;
}

/** The faults of a topology: every service instance killed once, and the servers' faults. */
export function faultPlan(stack: Launched): Fault[] {
  const names = Object.keys(stack.state().processes);
  const services = names.filter((n) => stack.state().processes[n]?.kind === "service");
  const faults: Fault[] = services.map((name) => {
    const service = name.replace(/-\d+$/, "");
    const kind: FaultKind =
      service === "media"
        ? "kill -9 media mid-PATCH"
        : service === "analysis"
          ? "kill -9 analysis mid-analysis"
          : service === "gateway"
            ? "kill -9 gateway"
            : "kill -9 service instance";
    return { kind, target: name };
  });
  faults.push(
    { kind: "kill -9 readings leader (NATS)", target: "nats" },
    { kind: "SIGSTOP/SIGCONT FerretDB", target: "mongo" },
    { kind: "SIGSTOP/SIGCONT Redis", target: "redis" },
    { kind: "kill -9 Redis mid-analysis", target: "redis" },
  );
  return faults;
}

/** Waits until the named processes run under new pids (not `before`) and every gateway is ready. */
async function waitWhole(
  stack: Launched,
  restarted: Record<string, number>,
  timeoutMs: number,
): Promise<{ ok: boolean; at: number }> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const state = safeState(stack);
    const back =
      state !== undefined &&
      Object.entries(restarted).every(([name, old]) => {
        const p = state.processes[name];
        return p?.state === "up" && p.pid !== undefined && p.pid !== old;
      });
    if (back) {
      const ready = await Promise.all(
        stack.ready.gateways.map((g) =>
          fetch(`${g}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
            (r) => r.status === 200,
            () => false,
          ),
        ),
      );
      if (ready.every(Boolean)) return { ok: true, at: Date.now() };
    }
    await sleep(100);
  }
  return { ok: false, at: Date.now() };
}

/** The state file, or undefined while it is being replaced. */
function safeState(stack: Launched) {
  try {
    return stack.state();
  } catch {
    return undefined;
  }
}

function pidOf(stack: Launched, name: string): number {
  const pid = safeState(stack)?.processes[name]?.pid;
  if (!pid) throw new Error(`${name} has no pid in the state file`);
  return pid;
}

/** Runs the plan in a seeded order; one result per fault. */
export async function runBouncer(plan: readonly Fault[], deps: BouncerDeps): Promise<FaultResult[]> {
  const { stack, random, log } = deps;
  const results: FaultResult[] = [];
  // The whole schedule first (the same for a seed whatever happens while it runs).
  const schedule = shuffled(random, plan).map((fault) => ({
    fault,
    pauseMs: between(random, 1_000, 3_000),
    stopMs: between(random, 2_000, 4_000),
  }));
  log(`schedule: ${schedule.map(({ fault }) => fault.target).join(", ")}`);
  for (const { fault, pauseMs, stopMs } of schedule) {
    await sleep(pauseMs);
    let target = fault.target;
    let note: string | undefined;
    const restarted: Record<string, number> = {};
    let endedAt: number;
    if (fault.kind === "SIGSTOP/SIGCONT FerretDB" || fault.kind === "SIGSTOP/SIGCONT Redis") {
      const pid = pidOf(stack, target);
      process.kill(pid, "SIGSTOP");
      await sleep(stopMs);
      process.kill(pid, "SIGCONT");
      endedAt = Date.now();
      target = `${target} for ${(stopMs / 1000).toFixed(1)} s`;
    } else {
      if (fault.kind === "kill -9 readings leader (NATS)") {
        if (deps.jsm) {
          const leader = (await deps.jsm.streams.info(READINGS_STREAM)).cluster?.leader;
          target = leader ? `nats-${leader.replace(/^trellis-/, "")}` : "nats-1";
        }
      } else if (fault.kind === "kill -9 media mid-PATCH") {
        if (!(await deps.tus.ensureInFlight(20_000))) note = "no PATCH in flight";
      } else if (fault.kind === "kill -9 analysis mid-analysis" || fault.kind === "kill -9 Redis mid-analysis") {
        const { active } = await deps.analyses.startActive(20_000);
        if (!active) note = "the analysis was not seen active";
      }
      const pid = pidOf(stack, target);
      restarted[target] = pid;
      if (fault.kind === "kill -9 media mid-PATCH") deps.tus.markKill();
      process.kill(pid, "SIGKILL");
      endedAt = Date.now();
    }
    const whole = await waitWhole(stack, restarted, 60_000);
    const result: FaultResult = {
      kind: fault.kind,
      target,
      recoveryMs: whole.at - endedAt,
      recovered: whole.ok,
      ...(note ? { note } : {}),
    };
    results.push(result);
    log(
      `fault: ${fault.kind} (${target}) → ${whole.ok ? `whole again after ${result.recoveryMs} ms` : "NOT RECOVERED within 60 s"}${note ? ` [${note}]` : ""}`,
    );
  }
  return results;
}
