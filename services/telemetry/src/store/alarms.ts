import type { Alarm, AlarmCondition, AlarmKind, AlarmRuleInput, AlarmState, Measurement } from "@trellis/contracts";
import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db, Filter } from "mongodb";

export interface AlarmDoc {
  /** `<ruleId>-<n>`, or `<monitorId>-<ms>` for an offline alarm. */
  _id: string;
  /** Missing on alarms stored before offline alarms existed: `threshold`. */
  kind?: AlarmKind;
  /** Null for an offline alarm (as are measurement, condition and threshold). */
  ruleId: string | null;
  monitorId: string;
  ownerId: string;
  measurement: Measurement | null;
  condition: AlarmCondition | null;
  threshold: AlarmRuleInput["threshold"] | null;
  state: AlarmState;
  value: number;
  breachStartedAt: Date;
  raisedAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  clearedAt: Date | null;
  clearedValue: number | null;
}

export const alarmView = (d: AlarmDoc): Alarm => ({
  id: d._id,
  kind: d.kind ?? "threshold",
  rule_id: d.ruleId,
  monitor_id: d.monitorId,
  owner_id: d.ownerId,
  measurement: d.measurement,
  condition: d.condition,
  threshold: d.threshold,
  state: d.state,
  value: d.value,
  breach_started_at: d.breachStartedAt.toISOString(),
  raised_at: d.raisedAt.toISOString(),
  acknowledged_at: d.acknowledgedAt?.toISOString() ?? null,
  acknowledged_by: d.acknowledgedBy,
  cleared_at: d.clearedAt?.toISOString() ?? null,
  cleared_value: d.clearedValue,
});

/** Alarms (collection `alarms`): the life cycle record of each alarm a rule raised. */
export class AlarmsStore {
  private readonly alarms: Collection<AlarmDoc>;

  constructor(db: Db) {
    this.alarms = db.collection<AlarmDoc>("alarms");
  }

  async ensureIndexes(): Promise<void> {
    await this.alarms.createIndex({ ownerId: 1, raisedAt: -1 }, { name: "owner_raised" });
    await this.alarms.createIndex({ ruleId: 1 }, { name: "ruleId" });
    await this.alarms.createIndex({ monitorId: 1 }, { name: "monitorId" });
  }

  /** Records a raised alarm; a second insert of the same alarm (a replayed outbox entry) changes nothing. */
  async insert(doc: AlarmDoc): Promise<void> {
    try {
      await this.alarms.insertOne(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  find(id: string): Promise<AlarmDoc | null> {
    return this.alarms.findOne({ _id: id });
  }

  list(filter: { ownerId?: string; monitorId?: string; state?: AlarmState }, limit: number): Promise<AlarmDoc[]> {
    const f: Filter<AlarmDoc> = {};
    if (filter.ownerId !== undefined) f.ownerId = filter.ownerId;
    if (filter.monitorId !== undefined) f.monitorId = filter.monitorId;
    if (filter.state !== undefined) f.state = filter.state;
    return this.alarms.find(f).sort({ raisedAt: -1, _id: -1 }).limit(limit).toArray();
  }

  /** The monitor's open (active or acknowledged) offline alarms. */
  openOffline(monitorId: string): Promise<AlarmDoc[]> {
    return this.alarms.find({ monitorId, kind: "offline", state: { $ne: "cleared" } }).toArray();
  }

  /** The monitor's offline alarms cleared at exactly `at` (by one presence transition). */
  offlineClearedAt(monitorId: string, at: Date): Promise<AlarmDoc[]> {
    return this.alarms.find({ monitorId, kind: "offline", clearedAt: at }).toArray();
  }

  async deleteForMonitor(monitorId: string): Promise<void> {
    await this.alarms.deleteMany({ monitorId });
  }

  /** active → acknowledged; false when it was not active. */
  async acknowledge(id: string, by: string, at: Date): Promise<boolean> {
    const res = await this.alarms.updateOne(
      { _id: id, state: "active" },
      { $set: { state: "acknowledged", acknowledgedAt: at, acknowledgedBy: by } },
    );
    return res.modifiedCount === 1;
  }

  /** active | acknowledged → cleared (idempotent). */
  async clear(id: string, at: Date, value: number | null): Promise<void> {
    await this.alarms.updateOne(
      { _id: id, state: { $ne: "cleared" } },
      { $set: { state: "cleared", clearedAt: at, clearedValue: value } },
    );
  }
}
