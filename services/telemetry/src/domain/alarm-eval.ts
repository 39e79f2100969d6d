import type { AlarmCondition, AlarmRuleInput, Measurement } from "@trellis/contracts";

/** A rule as evaluation needs it. */
export interface RuleSpec {
  id: string;
  measurement: Measurement;
  condition: AlarmCondition;
  threshold: AlarmRuleInput["threshold"];
  forSeconds: number;
  hysteresis: number;
}

/** The rule's alarm that is open (active or acknowledged). */
export interface OpenAlarm {
  id: string;
  value: number;
  breachStartedAt: number;
  raisedAt: number;
}

/** What evaluation remembers of one rule between readings. */
export interface RuleState {
  /** Timestamp (ms) of the first reading of the current unbroken breach; null when none. */
  breachSince: number | null;
  /** Timestamp of the newest reading evaluated: older or equal ones are not evaluated again. */
  lastAt: number;
  /** Alarms this rule has raised (the next one is `<ruleId>-<count + 1>`). */
  count: number;
  open: OpenAlarm | null;
}

export const initialRuleState = (): RuleState => ({ breachSince: null, lastAt: -1, count: 0, open: null });

export type Transition =
  | { kind: "raised"; ruleId: string; alarmId: string; at: number; value: number; breachStartedAt: number }
  | { kind: "cleared"; ruleId: string; alarmId: string; at: number; value: number };

/**
 * Where a value stands against a rule: `breach` (the condition holds), `clear` (back inside by
 * more than the hysteresis: an open alarm clears), or `between` (neither: the condition does not
 * hold, but an open alarm stays open).
 */
export function classify(rule: RuleSpec, value: number): "breach" | "clear" | "between" {
  const h = rule.hysteresis;
  const t = rule.threshold;
  switch (rule.condition) {
    case "above": {
      const line = t as number;
      return value > line ? "breach" : value < line - h ? "clear" : "between";
    }
    case "below": {
      const line = t as number;
      return value < line ? "breach" : value > line + h ? "clear" : "between";
    }
    case "outside": {
      const { low, high } = t as { low: number; high: number };
      if (value < low || value > high) return "breach";
      return value > low + h && value < high - h ? "clear" : "between";
    }
  }
}

/**
 * One reading of the rule's measurement → the rule's next state and what happened. Readings not
 * newer than the last one evaluated are ignored (a redelivery, or a reading that arrived after a
 * newer one), so applying the same readings twice changes nothing.
 *
 * - No open alarm: a breaching reading starts (or continues) a breach; any other reading ends it.
 *   When a breach has lasted `forSeconds` (reading timestamps), the alarm is raised with the
 *   value of the reading that reached it. So a one-off spike raises nothing unless `forSeconds` is 0.
 * - An open alarm clears on the first reading back inside by more than the hysteresis; readings on
 *   or near the line (`between`) keep it open, so a value hovering on the line does not flap.
 */
export function step(
  rule: RuleSpec,
  state: RuleState,
  reading: { at: number; value: number },
): { state: RuleState; transition: Transition | null } {
  if (reading.at <= state.lastAt) return { state, transition: null };
  const next: RuleState = { ...state };
  return { state: next, transition: advance(rule, next, reading.at, reading.value) };
}

/**
 * `step` in place, for a reading newer than `s.lastAt`: mutates `s` (a copy the caller owns; the
 * `open` object is replaced, never changed) so a round of readings allocates one state per rule,
 * not one per reading.
 */
function advance(rule: RuleSpec, s: RuleState, at: number, value: number): Transition | null {
  const cls = classify(rule, value);
  s.lastAt = at;
  if (s.open) {
    if (cls !== "clear") return null;
    const alarmId = s.open.id;
    s.open = null;
    s.breachSince = null;
    return { kind: "cleared", ruleId: rule.id, alarmId, at, value };
  }
  if (cls !== "breach") {
    s.breachSince = null;
    return null;
  }
  const since = s.breachSince ?? at;
  s.breachSince = since;
  if (at - since < rule.forSeconds * 1_000) return null;
  s.count += 1;
  const alarmId = `${rule.id}-${s.count}`;
  s.open = { id: alarmId, value, breachStartedAt: since, raisedAt: at };
  s.breachSince = null;
  return { kind: "raised", ruleId: rule.id, alarmId, at, value, breachStartedAt: since };
}

/** The evaluation state of one monitor's rules, by rule id. */
export type MonitorAlarmState = Record<string, RuleState>;

/**
 * A monitor's readings (any order) through each of its rules, in timestamp order. Rules without
 * a state start fresh; states of rules that no longer exist are dropped. `changed` is false when
 * no rule saw a newer reading (nothing to write).
 */
export function evaluateMonitor(
  rules: readonly RuleSpec[],
  state: MonitorAlarmState,
  readings: readonly { at: number; values: Partial<Record<Measurement, number>> }[],
): { state: MonitorAlarmState; transitions: Transition[]; changed: boolean } {
  // Each measurement's readings once, in timestamp order: the rules of a measurement scan arrays.
  const sorted = [...readings].sort((a, b) => a.at - b.at);
  const series = new Map<string, { at: number[]; value: number[] }>();
  for (const r of sorted) {
    for (const m in r.values) {
      const v = r.values[m as Measurement];
      if (v === undefined) continue;
      let one = series.get(m);
      if (!one) {
        one = { at: [], value: [] };
        series.set(m, one);
      }
      one.at.push(r.at);
      one.value.push(v);
    }
  }
  const next: MonitorAlarmState = {};
  const transitions: Transition[] = [];
  const ruleIds = new Set(rules.map((r) => r.id));
  let changed = Object.keys(state).some((id) => !ruleIds.has(id));
  for (const rule of rules) {
    const before = state[rule.id];
    let s = before ?? initialRuleState();
    const one = series.get(rule.measurement);
    const n = one?.at.length ?? 0;
    let i = 0;
    while (i < n && (one?.at[i] as number) <= s.lastAt) i++;
    if (one && i < n) {
      s = { ...s };
      // Quiet (no breach, no open alarm): only a breaching reading changes more than `lastAt`.
      if (!s.open && s.breachSince === null) {
        const breaches = breachTest(rule);
        while (i < n && !breaches(one.value[i] as number)) i++;
        s.lastAt = one.at[Math.min(i, n - 1)] as number;
      }
      for (; i < n; i++) {
        const transition = advance(rule, s, one.at[i] as number, one.value[i] as number);
        if (transition) transitions.push(transition);
      }
    }
    if (s !== before) changed = true;
    next[rule.id] = s;
  }
  transitions.sort((a, b) => a.at - b.at);
  return { state: next, transitions, changed };
}

/** `classify(rule, v) === "breach"`, without the switch per reading. */
function breachTest(rule: RuleSpec): (v: number) => boolean {
  const t = rule.threshold;
  if (rule.condition === "above") return (v) => v > (t as number);
  if (rule.condition === "below") return (v) => v < (t as number);
  const { low, high } = t as { low: number; high: number };
  return (v) => v < low || v > high;
}

/**
 * Whether two states of a monitor's rules differ in more than the newest reading time: a rule
 * added or removed, a breach started or ended, an alarm raised or cleared. Only then must the new
 * state be written at once; a change of `lastAt` alone may wait (see the evaluator).
 */
export function differsBeyondLastAt(a: MonitorAlarmState, b: MonitorAlarmState): boolean {
  const ids = Object.keys(b);
  if (ids.length !== Object.keys(a).length) return true;
  for (const id of ids) {
    const x = a[id];
    const y = b[id] as RuleState;
    if (!x) return true;
    if (x.breachSince !== y.breachSince || x.count !== y.count || (x.open?.id ?? null) !== (y.open?.id ?? null)) {
      return true;
    }
  }
  return false;
}
