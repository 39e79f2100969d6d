import type { PresenceChange } from "@trellis/contracts";
import type { Logger } from "pino";
import type { AlarmNotifier } from "../ingest/alarm-notifier.ts";
import type { AlarmDoc, AlarmsStore } from "../store/alarms.ts";

/**
 * Offline alarms: a monitor declared offline raises one (`kind: "offline"`, no rule), its return
 * online clears it. Driven by the presence tracker's claimed transitions, which happen once across
 * instances, and announced like threshold alarms (events, live stream, webhooks). The alarm id is
 * `<monitorId>-<claim time ms>`, so replaying a transition cannot raise a second alarm.
 */
export class OfflineAlarms {
  private readonly alarms: AlarmsStore;
  private readonly notifier: AlarmNotifier;
  private readonly log: Logger;

  constructor(alarms: AlarmsStore, notifier: AlarmNotifier, log: Logger) {
    this.alarms = alarms;
    this.notifier = notifier;
    this.log = log;
  }

  async onPresence(change: PresenceChange): Promise<void> {
    const at = new Date(change.at);
    if (change.state === "offline") {
      const doc: AlarmDoc = {
        _id: `${change.monitorId}-${at.getTime()}`,
        kind: "offline",
        ruleId: null,
        monitorId: change.monitorId,
        ownerId: change.ownerId,
        measurement: null,
        condition: null,
        threshold: null,
        state: "active",
        value: silentSeconds(change, at),
        breachStartedAt: change.lastSeen === null ? at : new Date(change.lastSeen),
        raisedAt: at,
        acknowledgedAt: null,
        acknowledgedBy: null,
        clearedAt: null,
        clearedValue: null,
      };
      await this.alarms.insert(doc);
      await this.notifier.announce("alarm.raised", at, doc);
      this.log.info({ monitorId: change.monitorId, alarmId: doc._id }, "offline alarm raised");
      return;
    }
    for (const open of await this.alarms.openOffline(change.monitorId)) {
      await this.alarms.clear(open._id, at, null);
      const cleared = await this.alarms.find(open._id);
      if (cleared) await this.notifier.announce("alarm.cleared", at, cleared);
      this.log.info({ monitorId: change.monitorId, alarmId: open._id }, "offline alarm cleared");
    }
  }
}

/** Whole seconds between the last reading and the offline claim (the timeout when never seen). */
export function silentSeconds(change: PresenceChange, at: Date): number {
  if (change.lastSeen === null) return change.offlineAfterSeconds;
  return Math.max(0, Math.round((at.getTime() - change.lastSeen) / 1000));
}
