import type { JetStreamClient } from "@nats-io/jetstream";
import { type AlarmEvent, type AlarmEventType, alarmEvents, liveSubjects, webhookJobs } from "@trellis/contracts";
import { type EventPublisher, encodeJson, Outbox } from "@trellis/runtime";
import type { Logger } from "pino";
import type { AlarmRulesStore, OutboxEntry } from "../store/alarm-rules.ts";
import { type AlarmDoc, type AlarmsStore, alarmView } from "../store/alarms.ts";

export interface AlarmNotifierOptions {
  js: JetStreamClient;
  events: EventPublisher;
  alarms: AlarmsStore;
  rules: AlarmRulesStore;
  log: Logger;
  /** An entry not announced this long after its commit is the outbox sweeper's. */
  retryAfterMs: number;
  sweepIntervalMs: number;
}

const EVENT_OF: Record<AlarmEventType, (typeof alarmEvents)[keyof typeof alarmEvents]> = {
  "alarm.raised": alarmEvents.raised,
  "alarm.acknowledged": alarmEvents.acknowledged,
  "alarm.cleared": alarmEvents.cleared,
};

/**
 * The side effects of a threshold alarm transition, after its state is committed: the alarm
 * record, the event in `TELEMETRY_EVENTS`, the live event and the webhook job. The transitions are
 * the runtime `Outbox`'s entries, held in the monitor's `alarm_state` document (committed with the
 * state by the evaluator's conditional write) and delivered here; the outbox's sweeper delivers
 * those a NATS outage or a crash left behind. Each step is idempotent (the alarm id, and the event
 * id as JetStream message id), so an entry delivered twice has no second effect. Off the ingest
 * path: one chain per monitor keeps a monitor's transitions in order.
 */
export class AlarmNotifier {
  private readonly opts: AlarmNotifierOptions;
  readonly outbox: Outbox<OutboxEntry>;

  constructor(opts: AlarmNotifierOptions) {
    this.opts = opts;
    this.outbox = new Outbox<OutboxEntry>({
      collection: opts.rules.states,
      deliver: (monitorId, entry) => this.apply(monitorId, entry),
      log: opts.log,
      retryAfterMs: opts.retryAfterMs,
      sweepIntervalMs: opts.sweepIntervalMs,
      order: (a, b) => a.transition.at - b.transition.at || (a.id < b.id ? -1 : 1),
    });
  }

  /** Applies committed entries in order, without making the caller wait. */
  enqueue(monitorId: string, entries: readonly OutboxEntry[]): void {
    void this.outbox.enqueue(monitorId, entries);
  }

  /** Waits for every chain (shutdown). */
  idle(): Promise<void> {
    return this.outbox.idle();
  }

  private async apply(monitorId: string, entry: OutboxEntry): Promise<void> {
    const { alarms } = this.opts;
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
    await js.publish(liveSubjects.of(doc.monitorId, "alarm"), encodeJson(event), { msgID: event.id });
    await js.publish(webhookJobs.deliver.subject, encodeJson({ userId: doc.ownerId, event }), {
      msgID: event.id,
    });
    return event;
  }
}
