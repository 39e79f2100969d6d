import type { Measurement } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import {
  classify,
  differsBeyondLastAt,
  evaluateMonitor,
  initialRuleState,
  type RuleSpec,
  type RuleState,
  step,
  type Transition,
} from "./alarm-eval.ts";
import { signatureHeader, verifySignature } from "./webhook-signature.ts";

const above: RuleSpec = {
  id: "a".repeat(24),
  measurement: "ph",
  condition: "above",
  threshold: 7,
  forSeconds: 10,
  hysteresis: 0.5,
};

/** Feeds `[seconds, value]` pairs through `rule`; returns the final state and every transition. */
function run(rule: RuleSpec, points: [number, number][], from: RuleState = initialRuleState()) {
  let state = from;
  const transitions: Transition[] = [];
  for (const [sec, value] of points) {
    const out = step(rule, state, { at: sec * 1_000, value });
    state = out.state;
    if (out.transition) transitions.push(out.transition);
  }
  return { state, transitions };
}

describe("classify", () => {
  it("above: breach over the line, clear below line - hysteresis, between in the band", () => {
    expect(classify(above, 7.01)).toBe("breach");
    expect(classify(above, 7)).toBe("between");
    expect(classify(above, 6.5)).toBe("between");
    expect(classify(above, 6.49)).toBe("clear");
  });
  it("below mirrors above", () => {
    const below: RuleSpec = { ...above, condition: "below", threshold: 18, hysteresis: 1 };
    expect(classify(below, 17.9)).toBe("breach");
    expect(classify(below, 18.5)).toBe("between");
    expect(classify(below, 19.01)).toBe("clear");
  });
  it("outside: breach beyond either edge, clear only well inside the band", () => {
    const outside: RuleSpec = { ...above, condition: "outside", threshold: { low: 5.5, high: 6.5 }, hysteresis: 0.1 };
    expect(classify(outside, 5.4)).toBe("breach");
    expect(classify(outside, 6.6)).toBe("breach");
    expect(classify(outside, 5.55)).toBe("between");
    expect(classify(outside, 6.45)).toBe("between");
    expect(classify(outside, 6)).toBe("clear");
  });
});

describe("step", () => {
  it("raises once the condition held for for_seconds, with the value that reached it", () => {
    const { state, transitions } = run(above, [
      [0, 7.2],
      [5, 7.4],
      [9, 7.5],
      [10, 7.6],
      [11, 7.9],
    ]);
    expect(transitions).toEqual([
      { kind: "raised", ruleId: above.id, alarmId: `${above.id}-1`, at: 10_000, value: 7.6, breachStartedAt: 0 },
    ]);
    expect(state.open?.id).toBe(`${above.id}-1`);
    expect(state.count).toBe(1);
  });

  it("a one-off spike (or a breach shorter than for_seconds) raises nothing", () => {
    expect(
      run(above, [
        [0, 6],
        [1, 9.5],
        [2, 6],
        [3, 6],
      ]).transitions,
    ).toEqual([]);
    expect(
      run(above, [
        [0, 8],
        [9, 8],
        [9.5, 6.8],
        [12, 8],
        [21, 8],
      ]).transitions,
    ).toEqual([]);
  });

  it("a reading in the hysteresis band breaks a breach (the condition did not hold)", () => {
    const { transitions } = run(above, [
      [0, 8],
      [6, 6.8],
      [12, 8],
      [21, 8],
    ]);
    expect(transitions).toEqual([]);
  });

  it("for_seconds 0 raises on the first breaching reading", () => {
    const { transitions } = run({ ...above, forSeconds: 0 }, [[1, 7.5]]);
    expect(transitions.map((t) => t.kind)).toEqual(["raised"]);
  });

  it("clears only when back inside by more than the hysteresis: a value hovering on the line does not flap", () => {
    const raised = run(above, [
      [0, 8],
      [10, 8],
    ]);
    expect(raised.transitions).toHaveLength(1);
    const hovering = run(
      above,
      [
        [11, 6.9],
        [12, 7.1],
        [13, 6.8],
        [14, 7.05],
        [15, 6.6],
        [16, 7.2],
        [40, 7.3],
      ],
      raised.state,
    );
    expect(hovering.transitions).toEqual([]);
    expect(hovering.state.open).not.toBeNull();
    const cleared = run(above, [[41, 6.4]], hovering.state);
    expect(cleared.transitions).toEqual([
      { kind: "cleared", ruleId: above.id, alarmId: `${above.id}-1`, at: 41_000, value: 6.4 },
    ]);
    expect(cleared.state.open).toBeNull();
  });

  it("at most one open alarm per rule; after clearing, a new breach raises the next alarm", () => {
    const { transitions } = run(above, [
      [0, 8],
      [10, 8],
      [20, 9],
      [30, 9],
      [31, 6],
      [40, 8],
      [50, 8],
    ]);
    expect(transitions.map((t) => `${t.kind}:${t.alarmId.split("-")[1]}`)).toEqual([
      "raised:1",
      "cleared:1",
      "raised:2",
    ]);
  });

  it("ignores readings not newer than the last one evaluated (redelivery is harmless)", () => {
    const first = run(above, [
      [0, 8],
      [10, 8],
    ]);
    const again = run(
      above,
      [
        [0, 8],
        [10, 8],
      ],
      first.state,
    );
    expect(again.transitions).toEqual([]);
    expect(again.state).toBe(first.state);
    // A late in-range reading does not clear either.
    expect(run(above, [[5, 1]], first.state).transitions).toEqual([]);
  });
});

describe("evaluateMonitor", () => {
  const temp: RuleSpec = { ...above, id: "b".repeat(24), measurement: "reservoir_temp", threshold: 25, forSeconds: 0 };

  it("evaluates readings in timestamp order whatever order they come in, each rule on its measurement", () => {
    const readings = [
      { at: 10_000, values: { ph: 8 } },
      { at: 0, values: { ph: 8, reservoir_temp: 20 } },
      { at: 5_000, values: { reservoir_temp: 26 } },
    ];
    const out = evaluateMonitor([above, temp], {}, readings);
    expect(out.transitions.map((t) => [t.ruleId, t.kind, t.at])).toEqual([
      [temp.id, "raised", 5_000],
      [above.id, "raised", 10_000],
    ]);
    expect(out.changed).toBe(true);
    expect(Object.keys(out.state).sort()).toEqual([above.id, temp.id].sort());
  });

  it("is unchanged when no reading is newer, and drops the state of deleted rules", () => {
    const first = evaluateMonitor([above], {}, [{ at: 1_000, values: { ph: 6 } }]);
    const same = evaluateMonitor([above], first.state, [{ at: 1_000, values: { ph: 6 } }]);
    expect(same.changed).toBe(false);
    const without = evaluateMonitor([], first.state, [{ at: 2_000, values: { ph: 6 } }]);
    expect(without.changed).toBe(true);
    expect(without.state).toEqual({});
  });

  it("a breach split across two rounds raises once, in the round that reaches for_seconds", () => {
    const r1 = evaluateMonitor([above], {}, [
      { at: 0, values: { ph: 8 } },
      { at: 4_000, values: { ph: 8 } },
    ]);
    expect(r1.transitions).toEqual([]);
    const r2 = evaluateMonitor([above], r1.state, [{ at: 10_000, values: { ph: 8 } }]);
    expect(r2.transitions.map((t) => t.kind)).toEqual(["raised"]);
    const r3 = evaluateMonitor([above], r2.state, [{ at: 20_000, values: { ph: 8 } }]);
    expect(r3.transitions).toEqual([]);
  });
});

describe("evaluateMonitor agrees with step, reading by reading", () => {
  it("on random rules and readings split into random rounds", () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let trial = 0; trial < 200; trial++) {
      const rules: RuleSpec[] = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, k) => {
        const condition = (["above", "below", "outside"] as const)[Math.floor(rand() * 3)] ?? "above";
        const measurement = rand() < 0.5 ? "ph" : "reservoir_temp";
        return {
          id: `${k}`.padStart(24, "0"),
          measurement,
          condition,
          threshold: condition === "outside" ? { low: 4, high: 6 } : 5,
          forSeconds: Math.floor(rand() * 4),
          hysteresis: rand() < 0.5 ? 0 : 0.5,
        };
      });
      const readings: { at: number; values: Partial<Record<Measurement, number>> }[] = Array.from(
        { length: 30 },
        (_, i) => ({
          at: i * 1_000,
          values: {
            ...(rand() < 0.8 ? { ph: Math.round(rand() * 100) / 10 } : {}),
            ...(rand() < 0.8 ? { reservoir_temp: Math.round(rand() * 100) / 10 } : {}),
          },
        }),
      );
      // Reference: each rule folds `step` over the readings in order.
      const expected: Transition[] = [];
      const finals: Record<string, RuleState> = {};
      for (const rule of rules) {
        let st = initialRuleState();
        for (const r of readings) {
          const v = r.values[rule.measurement];
          if (v === undefined) continue;
          const out = step(rule, st, { at: r.at, value: v });
          st = out.state;
          if (out.transition) expected.push(out.transition);
        }
        finals[rule.id] = st;
      }
      // evaluateMonitor over rounds of random sizes, shuffled within each round.
      let state = {};
      const got: Transition[] = [];
      for (let i = 0; i < readings.length; ) {
        const size = 1 + Math.floor(rand() * 8);
        const round = readings.slice(i, i + size).sort(() => rand() - 0.5);
        i += size;
        const out = evaluateMonitor(rules, state, round);
        state = out.state;
        got.push(...out.transitions);
      }
      const key = (t: Transition) => `${t.ruleId}:${t.kind}:${t.alarmId}:${t.at}:${t.value}`;
      expect(got.map(key).sort(), `trial ${trial}`).toEqual(expected.map(key).sort());
      for (const rule of rules) {
        const a = (state as Record<string, RuleState>)[rule.id];
        const b = finals[rule.id] as RuleState;
        expect(a, `trial ${trial}`).toEqual(b);
      }
    }
  });
});

describe("differsBeyondLastAt", () => {
  it("is false when only the newest reading time moved, true for a breach, an alarm or a rule change", () => {
    const quiet = evaluateMonitor([above], {}, [{ at: 1_000, values: { ph: 6 } }]).state;
    const later = evaluateMonitor([above], quiet, [{ at: 2_000, values: { ph: 6.2 } }]).state;
    expect(differsBeyondLastAt(quiet, later)).toBe(false);
    const breaching = evaluateMonitor([above], quiet, [{ at: 2_000, values: { ph: 8 } }]).state;
    expect(differsBeyondLastAt(quiet, breaching)).toBe(true);
    const raised = evaluateMonitor([{ ...above, forSeconds: 0 }], quiet, [{ at: 2_000, values: { ph: 8 } }]).state;
    expect(differsBeyondLastAt(quiet, raised)).toBe(true);
    expect(differsBeyondLastAt(quiet, {})).toBe(true);
  });
});

describe("webhook signature", () => {
  it("signs t.body with HMAC-SHA256 and verifies; a changed body or secret fails", () => {
    const header = signatureHeader("a-secret-of-16-chars", '{"a":1}', 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature("a-secret-of-16-chars", '{"a":1}', header)).toBe(true);
    expect(verifySignature("a-secret-of-16-chars", '{"a":2}', header)).toBe(false);
    expect(verifySignature("another-secret-16ch", '{"a":1}', header)).toBe(false);
    expect(verifySignature("a-secret-of-16-chars", '{"a":1}', "garbage")).toBe(false);
  });
});
