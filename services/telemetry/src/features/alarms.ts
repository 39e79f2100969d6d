import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { alarmRulesChanged } from "@trellis/contracts";
import { type EgressPolicy, type EventPublisher, type NoticePublisher, onNatsStatus, onNotice } from "@trellis/runtime";
import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import { type AlarmHandlers, alarmHandlers } from "../handlers/alarms.ts";
import { AlarmEvaluator } from "../ingest/alarm-evaluator.ts";
import { AlarmNotifier } from "../ingest/alarm-notifier.ts";

export interface AlarmsDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  events: EventPublisher;
  notices: NoticePublisher;
  config: Pick<
    TelemetryConfig,
    "OUTBOX_RETRY_MS" | "OUTBOX_SWEEP_INTERVAL_MS" | "ALARM_RULES_CACHE_MS" | "ALARM_STATE_FLUSH_MS"
  >;
  stores: Pick<Stores, "monitors" | "alarmRules" | "alarms" | "webhooks">;
  /** Webhook URLs are checked against it when set. */
  egress: EgressPolicy;
  /** Tells this process's conditional writes from another's (instances may share INSTANCE_ID). */
  processId: string;
  log: Logger;
}

export interface Alarms {
  /** Evaluates each ingest round's readings against the monitors' rules. */
  evaluator: AlarmEvaluator;
  /** Announces alarm transitions (also the offline alarms presence raises). */
  notifier: AlarmNotifier;
  handlers: AlarmHandlers;
  /** A monitor's rules, their state and its alarms, removed with the monitor; every instance drops its cached rules. */
  removeMonitor(monitorId: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Threshold alarms: rules and alarms over the catalog, evaluation on each ingest round, and the
 * notification outbox. Every instance hears every rule change (a notice, no queue group) and drops
 * that monitor's cached rules; after a reconnect it drops them all (notices missed meanwhile).
 */
export async function startAlarms(deps: AlarmsDeps): Promise<Alarms> {
  const { nc, js, events, notices, config, stores, egress, processId } = deps;
  const log = deps.log.child({ component: "alarms" });
  const notifier = new AlarmNotifier({
    js,
    events,
    alarms: stores.alarms,
    rules: stores.alarmRules,
    log,
    retryAfterMs: config.OUTBOX_RETRY_MS,
    sweepIntervalMs: config.OUTBOX_SWEEP_INTERVAL_MS,
  });
  await notifier.outbox.ensureIndexes();
  const evaluator = new AlarmEvaluator({
    store: stores.alarmRules,
    notifier,
    log,
    instance: processId,
    cacheTtlMs: config.ALARM_RULES_CACHE_MS,
    flushMs: config.ALARM_STATE_FLUSH_MS,
  });
  const ruleChanges = onNotice(nc, alarmRulesChanged, ({ monitorId }) => evaluator.invalidate(monitorId));
  const stopStatus = onNatsStatus(nc, (s) => {
    if (s.type === "reconnect") evaluator.invalidateAll();
  });
  notifier.outbox.start();
  return {
    evaluator,
    notifier,
    handlers: alarmHandlers({
      nc,
      notices,
      monitors: stores.monitors,
      rules: stores.alarmRules,
      alarms: stores.alarms,
      webhooks: stores.webhooks,
      notifier,
      evaluator,
      egress,
    }),
    async removeMonitor(monitorId) {
      await stores.alarmRules.deleteOfMonitor(monitorId);
      await stores.alarms.deleteForMonitor(monitorId);
      notices.publish(alarmRulesChanged, { monitorId });
    },
    async stop() {
      ruleChanges.unsubscribe();
      stopStatus();
      await notifier.outbox.stop();
    },
  };
}
