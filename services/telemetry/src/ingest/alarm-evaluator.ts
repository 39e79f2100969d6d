import type { Logger } from "pino";
import { differsBeyondLastAt, evaluateMonitor, type MonitorAlarmState } from "../domain/alarm-eval.ts";
import type { NormalizedReading } from "../domain/reading.ts";
import { type AlarmRuleDoc, type AlarmRulesStore, type OutboxEntry, ruleSpec } from "../store/alarm-rules.ts";
import type { AlarmNotifier } from "./alarm-notifier.ts";

export interface AlarmEvaluatorOptions {
  store: AlarmRulesStore;
  notifier: AlarmNotifier;
  log: Logger;
  instance: string;
  /** Cached rules are reloaded after this long even without a change notice (a missed broadcast). */
  cacheTtlMs: number;
  /**
   * A state whose only change is the newest reading time is written at most this often per
   * monitor (a breach, an alarm or a rule change is written at once).
   */
  flushMs: number;
}

/** Conditional writes lost to another instance are evaluated again this many times per round. */
const MAX_ATTEMPTS = 8;

/**
 * Threshold alarms, evaluated on each ingest round: rules come from a per-monitor cache (dropped
 * on a change notice from any instance), the readings go through `evaluateMonitor` in memory,
 * and the new states are written with one conditional bulk write per round, only for monitors
 * that have rules and only when something more than the newest reading time changed (or that
 * time was last written `flushMs` ago). Two instances evaluating the same monitor at once: one write wins, the other
 * re-reads and evaluates its readings again on the winner's state (readings older than the
 * state's newest are skipped), so an alarm is raised once. Transitions are committed with the
 * state (entries of the runtime `Outbox`) and announced afterwards by the notifier, off the ingest
 * path; the outbox's sweeper announces those a NATS outage or a crash left behind.
 */
export class AlarmEvaluator {
  private readonly opts: AlarmEvaluatorOptions;
  private readonly cache = new Map<string, { rules: AlarmRuleDoc[]; loadedAt: number }>();
  private readonly generation = new Map<string, number>();
  private writes = 0;
  /**
   * The state of each monitor's rules as this instance last read or wrote it, with the version it
   * has (or builds on) in the database: a round reads only the versions, and the whole state only
   * of monitors whose version moved (another instance wrote).
   */
  private readonly known = new Map<string, { version: number; rules: MonitorAlarmState }>();
  /** When this instance last wrote each monitor's state. */
  private readonly flushedAt = new Map<string, number>();

  constructor(opts: AlarmEvaluatorOptions) {
    this.opts = opts;
  }

  /** Forgets a monitor's cached rules (they changed). */
  invalidate(monitorId: string): void {
    this.cache.delete(monitorId);
    this.generation.set(monitorId, (this.generation.get(monitorId) ?? 0) + 1);
  }

  invalidateAll(): void {
    for (const id of [...this.cache.keys()]) this.invalidate(id);
  }

  /** The rules of these monitors: from the cache, the missing ones in one query. */
  async rulesFor(monitorIds: readonly string[]): Promise<Map<string, AlarmRuleDoc[]>> {
    const now = Date.now();
    const out = new Map<string, AlarmRuleDoc[]>();
    const missing: string[] = [];
    for (const id of monitorIds) {
      const hit = this.cache.get(id);
      if (hit && now - hit.loadedAt < this.opts.cacheTtlMs) out.set(id, hit.rules);
      else missing.push(id);
    }
    if (missing.length === 0) return out;
    const generations = missing.map((id) => this.generation.get(id) ?? 0);
    const loaded = await this.opts.store.ofMonitors(missing);
    missing.forEach((id, i) => {
      const rules = loaded.get(id) ?? [];
      out.set(id, rules);
      // A change notice that came while loading means these may be stale: use them once, don't cache.
      if ((this.generation.get(id) ?? 0) === generations[i]) this.cache.set(id, { rules, loadedAt: now });
    });
    return out;
  }

  /** Evaluates one round's readings. Throws when the states could not be written (the round is redelivered). */
  async evaluate(readings: readonly { monitorId: string; reading: NormalizedReading }[]): Promise<void> {
    if (readings.length === 0) return;
    const byMonitor = new Map<string, NormalizedReading[]>();
    for (const r of readings) {
      let list = byMonitor.get(r.monitorId);
      if (!list) {
        list = [];
        byMonitor.set(r.monitorId, list);
      }
      list.push(r.reading);
    }
    const rules = await this.rulesFor([...byMonitor.keys()]);
    let pending = [...byMonitor.keys()].filter((id) => (rules.get(id)?.length ?? 0) > 0);
    for (let attempt = 0; attempt < MAX_ATTEMPTS && pending.length > 0; attempt++) {
      const states = await this.currentStates(pending);
      const writes: { monitorId: string; version: number; rules: MonitorAlarmState; outbox: OutboxEntry[] }[] = [];
      const committedAt = Date.now();
      for (const state of states) {
        const monitorRules = rules.get(state._id) ?? [];
        const result = evaluateMonitor(monitorRules.map(ruleSpec), state.rules ?? {}, byMonitor.get(state._id) ?? []);
        if (!result.changed) continue;
        // Quiet rounds (no breach, no alarm, no rule change) only move the newest reading time:
        // written at most every `flushMs`, which keeps the write per round off the busy database.
        const quiet = result.transitions.length === 0 && !differsBeyondLastAt(state.rules ?? {}, result.state);
        if (quiet && committedAt - (this.flushedAt.get(state._id) ?? 0) < this.opts.flushMs) {
          // Not written: remembered here, on the version still in the database.
          this.known.set(state._id, { version: state.version, rules: result.state });
          continue;
        }
        const byId = new Map(monitorRules.map((r) => [r._id, r]));
        const outbox: OutboxEntry[] = [];
        for (const t of result.transitions) {
          const rule = byId.get(t.ruleId);
          if (!rule) continue;
          outbox.push({
            id: `${t.alarmId}:${t.kind}`,
            transition: t,
            rule: {
              _id: rule._id,
              monitorId: rule.monitorId,
              ownerId: rule.ownerId,
              measurement: rule.measurement,
              condition: rule.condition,
              threshold: rule.threshold,
            },
            committedAt,
          });
        }
        writes.push({ monitorId: state._id, version: state.version, rules: result.state, outbox });
      }
      const writer = `${this.opts.instance}:${++this.writes}`;
      const lost = new Set(
        await this.opts.store.commit(writes, writer, (entries) =>
          this.opts.notifier.outbox.pendingUpdate(entries, committedAt),
        ),
      );
      for (const w of writes) {
        if (lost.has(w.monitorId)) {
          this.known.delete(w.monitorId);
          continue;
        }
        this.known.set(w.monitorId, { version: w.version + 1, rules: w.rules });
        this.flushedAt.set(w.monitorId, committedAt);
        this.opts.notifier.enqueue(w.monitorId, w.outbox);
      }
      if (lost.size > 0) this.opts.log.debug({ monitors: [...lost], attempt }, "alarm state written meanwhile; again");
      pending = [...lost];
    }
    if (pending.length > 0) throw new Error(`alarm state of ${pending.length} monitors kept changing underneath`);
  }

  /** The current state of these monitors: versions from the database, whole states only where they moved. */
  private async currentStates(
    monitorIds: readonly string[],
  ): Promise<{ _id: string; version: number; rules: MonitorAlarmState }[]> {
    let versions = await this.opts.store.versionsOf(monitorIds);
    if (versions.size < monitorIds.length) {
      await this.opts.store.ensureStates(monitorIds.filter((id) => !versions.has(id)));
      versions = await this.opts.store.versionsOf(monitorIds);
    }
    const moved = monitorIds.filter((id) => this.known.get(id)?.version !== versions.get(id));
    if (moved.length > 0) {
      for (const doc of await this.opts.store.statesOf(moved)) {
        this.known.set(doc._id, { version: doc.version, rules: doc.rules ?? {} });
      }
    }
    const out: { _id: string; version: number; rules: MonitorAlarmState }[] = [];
    for (const id of monitorIds) {
      const k = this.known.get(id);
      if (k && k.version === versions.get(id)) out.push({ _id: id, ...k });
    }
    return out;
  }
}
