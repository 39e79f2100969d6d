import type { JetStreamClient } from "@nats-io/jetstream";
import { type AlarmEvent, type AlarmEventType, alarmEvents, liveSubjects, webhookJobs } from "@trellis/contracts";
import { type EventPublisher, encodeJson, withJsRetry } from "@trellis/runtime";
import type { Logger } from "pino";
import type { AlarmRulesStore, OutboxEntry } from "../store/alarm-rules.ts";
import { type AlarmDoc, type AlarmsStore, alarmView } from "../store/alarms.ts";

export interface AlarmNotifierOptions {
  js: JetStreamClient;
  events: EventPublisher;
  alarms: AlarmsStore;
  rules: AlarmRulesStore;
  log: Logger;
}

const EVENT_OF: Record<AlarmEventType, (typeof alarmEvents)[keyof typeof alarmEvents]> = {
  "alarm.raised": alarmEvents.raised,
  "alarm.acknowledged": alarmEvents.acknowledged,
  "alarm.cleared": alarmEvents.cleared,
};

/**
 * The side effects of an alarm transition, after its state is committed: the alarm record, the
 * event in `TELEMETRY_EVENTS`, the live event and the webhook job. Each step is idempotent (the
 * alarm id, and the event id as JetStream message id), so an outbox entry applied twice (a sweep
 * racing a slow first attempt, or after a crash) has no second effect. Runs off the ingest path:
 * one chain per monitor keeps a monitor's transitions in order.
 */
export class AlarmNotifier {
  private readonly opts: AlarmNotifierOptions;
  private readonly chains = new Map<string, Promise<void>>();

  constructor(opts: AlarmNotifierOptions) {
    this.opts = opts;
  }

  /** Applies the entries in order, without making the caller wait. */
  enqueue(monitorId: string, entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    const sorted = [...entries].sort((a, b) => a.transition.at - b.transition.at || (a.id < b.id ? -1 : 1));
    const prev = this.chains.get(monitorId) ?? Promise.resolve();
    const next = prev.then(async () => {
      for (const e of sorted) {
        try {
          await this.apply(monitorId, e);
        } catch (err) {
          // Left in the outbox: the sweep applies it again.
          this.opts.log.warn({ err, monitorId, entry: e.id }, "alarm transition not announced yet; will retry");
          return;
        }
      }
    });
    this.chains.set(monitorId, next);
    void next.finally(() => {
      if (this.chains.get(monitorId) === next) this.chains.delete(monitorId);
    });
  }

  /** Waits for every chain (shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  private async apply(monitorId: string, entry: OutboxEntry): Promise<void> {
    const { alarms, rules } = this.opts;
    const t = entry.transition;
    let doc: AlarmDoc | null;
    if (t.kind === "raised") {
      doc = {
        _id: t.alarmId,
        ruleId: entry.rule._id,
        monitorId: entry.rule.monitorId,
        ownerId: entry.rule.ownerId,
        measurement: entry.rule.measurement,
        condition: entry.rule.condition,
        threshold: entry.rule.threshold,
        state: "active",
        value: t.value,
        breachStartedAt: new Date(t.breachStartedAt),
        raisedAt: new Date(t.at),
        acknowledgedAt: null,
        acknowledgedBy: null,
        clearedAt: null,
        clearedValue: null,
      };
      await alarms.insert(doc);
    } else {
      await alarms.clear(t.alarmId, new Date(t.at), t.value);
      doc = await alarms.find(t.alarmId);
    }
    if (doc) {
      await this.announce(t.kind === "raised" ? "alarm.raised" : "alarm.cleared", new Date(t.at), doc);
      this.opts.log.info({ monitorId, alarmId: doc._id, transition: t.kind, value: t.value }, `alarm ${t.kind}`);
    }
    await rules.removeOutbox(monitorId, entry.id);
  }

  /** Publishes a transition: durable event, live event, webhook job (all keyed by the event id). */
  async announce(type: AlarmEventType, at: Date, doc: AlarmDoc): Promise<AlarmEvent> {
    const { js, events } = this.opts;
    const event: AlarmEvent = {
      id: `${doc._id}:${type.slice("alarm.".length)}`,
      type,
      at: at.toISOString(),
      alarm: alarmView(doc),
    };
    await events.publish(EVENT_OF[type], event, event.id);
    // TELEMETRY_LIVE (telemetry creates it at start) stores it for SSE clients.
    const live = encodeJson(event);
    await withJsRetry(() => js.publish(liveSubjects.of(doc.monitorId, "alarm"), live, { msgID: event.id }));
    const job = encodeJson({ userId: doc.ownerId, event });
    await withJsRetry(() => js.publish(webhookJobs.deliver.subject, job, { msgID: event.id }));
    return event;
  }
}
