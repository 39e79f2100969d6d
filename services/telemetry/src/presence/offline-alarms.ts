import type { PresenceChange } from "@trellis/contracts";
import type { Logger } from "pino";
import type { AlarmNotifier } from "../ingest/alarm-notifier.ts";
import type { AlarmDoc, AlarmsStore } from "../store/alarms.ts";

/**
 * Offline alarms: a monitor declared offline raises one (`kind: "offline"`, no rule), its return
 * online clears it. Driven by the presence tracker's claimed transitions, which happen once across
 * instances, and announced like threshold alarms (events, live stream, webhooks). The alarm id is
 * `<monitorId>-<claim time ms>`, so replaying a transition cannot raise a second alarm. Called from
 * the presence outbox's delivery: it may run again for the same transition, and then does nothing new.
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
      this.log.info({ monitorId: change.monitorId, alarmId: open._id }, "offline alarm cleared");
    }
    // Announced from what this transition cleared, not from what was open: a repeat (the outbox
    // delivering it again after a failed publish) announces the same alarms again, deduplicated.
    for (const cleared of await this.alarms.offlineClearedAt(change.monitorId, at)) {
      await this.notifier.announce("alarm.cleared", at, cleared);
    }
  }
}

/** Whole seconds between the last reading and the offline claim (the timeout when never seen). */
export function silentSeconds(change: PresenceChange, at: Date): number {
  if (change.lastSeen === null) return change.offlineAfterSeconds;
  return Math.max(0, Math.round((at.getTime() - change.lastSeen) / 1000));
}
