import type { AlarmCondition, AlarmRuleInput, Measurement } from "@trellis/contracts";
import { chunked, type OutboxUpdate } from "@trellis/runtime";
import { type Collection, type Db, ObjectId } from "mongodb";
import type { MonitorAlarmState, RuleSpec, Transition } from "../domain/alarm-eval.ts";

export interface AlarmRuleDoc {
  _id: string;
  monitorId: string;
  ownerId: string;
  measurement: Measurement;
  condition: AlarmCondition;
  threshold: AlarmRuleInput["threshold"];
  forSeconds: number;
  hysteresis: number;
  createdAt: Date;
}

/** The stored rule for a client's rule input. */
export const ruleDocOf = (
  rule: AlarmRuleInput,
  ids: Pick<AlarmRuleDoc, "_id" | "monitorId" | "ownerId">,
  createdAt = new Date(),
): AlarmRuleDoc => ({
  ...ids,
  measurement: rule.measurement,
  condition: rule.condition,
  threshold: rule.threshold,
  forSeconds: rule.for_seconds,
  hysteresis: rule.hysteresis,
  createdAt,
});

/** A transition committed with the state, waiting for its side effects (alarm record, events, webhook). */
export interface OutboxEntry {
  /** `<alarmId>:<raised|cleared>`. */
  id: string;
  transition: Transition;
  /** The rule as it was when the transition happened. */
  rule: Pick<AlarmRuleDoc, "_id" | "monitorId" | "ownerId" | "measurement" | "condition" | "threshold">;
  /** When it was committed (ms), to find entries a crashed instance left behind. */
  committedAt: number;
}

/**
 * One document per monitor with rules: the evaluation state of each rule, a version for
 * conditional updates (two instances evaluating the same monitor: one wins, the other re-reads
 * and evaluates again) and the outbox of transitions committed with that state.
 */
export interface AlarmStateDoc {
  _id: string;
  version: number;
  rules: MonitorAlarmState;
  /** Transitions committed with this state, not announced yet (the runtime `Outbox`'s entries). */
  outbox: Record<string, OutboxEntry>;
  /** When the outbox sweeper may take them (set with the entries, unset once they are announced). */
  outboxDueAt?: number;
  /** Which evaluation wrote last (tells a writer whether its conditional update won). */
  writer?: string;
}

export const ruleSpec = (d: AlarmRuleDoc): RuleSpec => ({
  id: d._id,
  measurement: d.measurement,
  condition: d.condition,
  threshold: d.threshold,
  forSeconds: d.forSeconds,
  hysteresis: d.hysteresis,
});

/** Alarm rules (collection `alarm_rules`) and their evaluation state (`alarm_state`). */
export class AlarmRulesStore {
  readonly rules: Collection<AlarmRuleDoc>;
  readonly states: Collection<AlarmStateDoc>;

  constructor(db: Db) {
    this.rules = db.collection<AlarmRuleDoc>("alarm_rules");
    this.states = db.collection<AlarmStateDoc>("alarm_state");
  }

  async ensureIndexes(): Promise<void> {
    await this.rules.createIndex({ monitorId: 1 }, { name: "monitorId" });
  }

  newId(): string {
    return new ObjectId().toHexString();
  }

  async create(doc: AlarmRuleDoc): Promise<void> {
    await this.ensureStates([doc.monitorId]);
    await this.rules.insertOne(doc);
  }

  /** Creates empty state documents for monitors that have none (idempotent). */
  async ensureStates(monitorIds: readonly string[]): Promise<void> {
    for (const ids of chunked(monitorIds)) {
      await this.states.bulkWrite(
        ids.map((id) => ({
          updateOne: {
            filter: { _id: id },
            update: { $setOnInsert: { version: 0, rules: {}, outbox: {} } },
            upsert: true,
          },
        })),
        { ordered: false },
      );
    }
  }

  find(id: string): Promise<AlarmRuleDoc | null> {
    return this.rules.findOne({ _id: id });
  }

  ofMonitor(monitorId: string): Promise<AlarmRuleDoc[]> {
    return this.rules.find({ monitorId }).sort({ createdAt: 1, _id: 1 }).toArray();
  }

  count(monitorId: string): Promise<number> {
    return this.rules.countDocuments({ monitorId });
  }

  /** The rules of these monitors, grouped (monitors without rules map to `[]`). */
  async ofMonitors(monitorIds: readonly string[]): Promise<Map<string, AlarmRuleDoc[]>> {
    const out = new Map<string, AlarmRuleDoc[]>(monitorIds.map((id) => [id, []]));
    if (monitorIds.length === 0) return out;
    for (const doc of await this.rules.find({ monitorId: { $in: [...monitorIds] } }).toArray()) {
      out.get(doc.monitorId)?.push(doc);
    }
    for (const list of out.values()) list.sort((a, b) => (a._id < b._id ? -1 : 1));
    return out;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.rules.deleteOne({ _id: id })).deletedCount === 1;
  }

  async deleteOfMonitor(monitorId: string): Promise<void> {
    await this.rules.deleteMany({ monitorId });
    await this.states.deleteOne({ _id: monitorId });
  }

  statesOf(monitorIds: readonly string[]): Promise<AlarmStateDoc[]> {
    return this.states.find({ _id: { $in: [...monitorIds] } }).toArray();
  }

  /** The version of each monitor's state document (those that exist). */
  async versionsOf(monitorIds: readonly string[]): Promise<Map<string, number>> {
    const docs = await this.states.find({ _id: { $in: [...monitorIds] } }, { projection: { version: 1 } }).toArray();
    return new Map(docs.map((d) => [d._id, d.version]));
  }

  /**
   * Conditional writes of new states, each only if the document still has the version it was
   * read at. Returns the monitors whose write lost (another evaluation wrote first).
   */
  async commit(
    writes: readonly { monitorId: string; version: number; rules: MonitorAlarmState; outbox: OutboxEntry[] }[],
    writer: string,
    /** The outbox's parts of the update that commit a write's entries with it (`Outbox.pendingUpdate`). */
    pending: (entries: readonly OutboxEntry[]) => OutboxUpdate<OutboxEntry>,
  ): Promise<string[]> {
    if (writes.length === 0) return [];
    let matched = 0;
    for (const chunk of chunked(writes)) {
      const res = await this.states.bulkWrite(
        chunk.map((w) => {
          const outbox = pending(w.outbox);
          return {
            updateOne: {
              filter: { _id: w.monitorId, version: w.version },
              update: {
                $set: { version: w.version + 1, rules: w.rules, writer, ...outbox.$set },
                ...(outbox.$min ? { $min: outbox.$min } : {}),
              },
            },
          };
        }),
        { ordered: false },
      );
      matched += res.matchedCount;
    }
    if (matched === writes.length) return [];
    const after = await this.states
      .find({ _id: { $in: writes.map((w) => w.monitorId) } }, { projection: { writer: 1, version: 1 } })
      .toArray();
    const byId = new Map(after.map((d) => [d._id, d]));
    return writes
      .filter((w) => {
        const d = byId.get(w.monitorId);
        return !d || d.writer !== writer || d.version !== w.version + 1;
      })
      .map((w) => w.monitorId);
  }
}
