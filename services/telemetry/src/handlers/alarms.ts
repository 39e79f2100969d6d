import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AlarmRule,
  alarmRulesChanged,
  type alarmsCatalog,
  authCatalog,
  MAX_ALARM_RULES_PER_MONITOR,
  type Principal,
  TrellisError,
  type UserPrincipal,
} from "@trellis/contracts";
import {
  type EgressPolicy,
  EgressRefusedError,
  type NoticePublisher,
  request,
  type ServiceParts,
} from "@trellis/runtime";
import { forbidden, isAdmin, requireUser } from "../domain/authorization.ts";
import type { AlarmEvaluator } from "../ingest/alarm-evaluator.ts";
import type { AlarmNotifier } from "../ingest/alarm-notifier.ts";
import { type AlarmRuleDoc, type AlarmRulesStore, ruleDocOf } from "../store/alarm-rules.ts";
import { type AlarmsStore, alarmView } from "../store/alarms.ts";
import type { MonitorsStore } from "../store/monitors.ts";
import type { WebhookDoc, WebhooksStore } from "../store/webhooks.ts";

export type AlarmHandlers = ServiceParts<typeof alarmsCatalog>["handlers"];

export interface AlarmHandlersDeps {
  nc: NatsConnection;
  notices: NoticePublisher;
  monitors: MonitorsStore;
  rules: AlarmRulesStore;
  alarms: AlarmsStore;
  webhooks: WebhooksStore;
  notifier: AlarmNotifier;
  evaluator: AlarmEvaluator;
  /** What webhook URLs may reach: checked when one is set, and again by each delivery. */
  egress: EgressPolicy;
}

const notFound = (what: string) => new TrellisError("not_found", `${what} not found`);

const ruleView = (d: AlarmRuleDoc): AlarmRule => ({
  id: d._id,
  monitor_id: d.monitorId,
  measurement: d.measurement,
  condition: d.condition,
  threshold: d.threshold,
  for_seconds: d.forSeconds,
  hysteresis: d.hysteresis,
  created_at: d.createdAt.toISOString(),
});

const webhookView = (d: WebhookDoc) => ({
  user_id: d._id,
  url: d.url,
  created_at: d.createdAt.toISOString(),
  updated_at: d.updatedAt.toISOString(),
});

/**
 * Refuses (403 `forbidden`, with the reason) a webhook URL whose host is or resolves to an address
 * the egress policy forbids. A name that does not resolve now is accepted: each delivery resolves
 * and checks it again (and retries while it does not resolve).
 */
async function checkWebhookUrl(egress: EgressPolicy, url: string): Promise<void> {
  try {
    await egress.checkUrl(url);
  } catch (err) {
    if (err instanceof EgressRefusedError)
      throw new TrellisError("forbidden", `webhook url not allowed: ${err.message}`);
  }
}

/** A user who owns `ownerId`'s things, or an admin; anyone else gets `notFound` as for a missing id. */
function requireOwner(actor: Principal, ownerId: string | null, what: string): UserPrincipal {
  const user = requireUser(actor);
  if (ownerId === null || (!isAdmin(user) && ownerId !== user.userId)) throw notFound(what);
  return user;
}

/** Self or admin, as auth decides for users. */
function requireSelfOrAdmin(actor: Principal, userId: string): UserPrincipal {
  const user = requireUser(actor);
  if (!isAdmin(user) && user.userId !== userId) throw forbidden();
  return user;
}

export function alarmHandlers(d: AlarmHandlersDeps): AlarmHandlers {
  /** Tells every instance (this one included) that a monitor's rules changed. */
  const rulesChanged = (monitorId: string) => {
    d.evaluator.invalidate(monitorId);
    d.notices.publish(alarmRulesChanged, { monitorId });
  };

  return {
    async createAlarmRule({ actor, monitorId, rule }) {
      const monitor = await d.monitors.findSummary(monitorId);
      requireOwner(actor, monitor?.ownerId ?? null, "monitor");
      if (!monitor) throw notFound("monitor");
      if ((await d.rules.count(monitorId)) >= MAX_ALARM_RULES_PER_MONITOR) {
        throw new TrellisError("conflict", `a monitor has at most ${MAX_ALARM_RULES_PER_MONITOR} alarm rules`);
      }
      const doc = ruleDocOf(rule, { _id: d.rules.newId(), monitorId, ownerId: monitor.ownerId });
      await d.rules.create(doc);
      rulesChanged(monitorId);
      return ruleView(doc);
    },

    async listAlarmRules({ actor, monitorId }) {
      const monitor = await d.monitors.findSummary(monitorId);
      requireOwner(actor, monitor?.ownerId ?? null, "monitor");
      return { items: (await d.rules.ofMonitor(monitorId)).map(ruleView) };
    },

    async deleteAlarmRule({ actor, ruleId }) {
      const rule = await d.rules.find(ruleId);
      requireOwner(actor, rule?.ownerId ?? null, "rule");
      if (!rule || !(await d.rules.delete(ruleId))) throw notFound("rule");
      rulesChanged(rule.monitorId);
      // Its open alarm can no longer clear by itself: close it now (and say so).
      for (const open of await d.alarms.list({ monitorId: rule.monitorId }, 1_000)) {
        if (open.ruleId !== ruleId || open.state === "cleared") continue;
        const now = new Date();
        await d.alarms.clear(open._id, now, null);
        const cleared = await d.alarms.find(open._id);
        if (cleared) await d.notifier.announce("alarm.cleared", now, cleared);
      }
      return {};
    },

    async listAlarms({ actor, state, monitorId, limit }) {
      const user = requireUser(actor);
      const docs = await d.alarms.list(
        {
          ...(isAdmin(user) ? {} : { ownerId: user.userId }),
          ...(monitorId !== undefined ? { monitorId } : {}),
          ...(state !== undefined ? { state } : {}),
        },
        limit,
      );
      return { items: docs.map(alarmView) };
    },

    async ackAlarm({ actor, alarmId }) {
      const doc = await d.alarms.find(alarmId);
      const user = requireOwner(actor, doc?.ownerId ?? null, "alarm");
      if (!doc) throw notFound("alarm");
      if (doc.state === "cleared") throw new TrellisError("conflict", "the alarm is cleared already");
      const now = new Date();
      if (doc.state === "acknowledged") return alarmView(doc);
      if (!(await d.alarms.acknowledge(alarmId, user.userId, now))) {
        const again = await d.alarms.find(alarmId);
        if (again?.state === "cleared") throw new TrellisError("conflict", "the alarm is cleared already");
        return alarmView(again ?? doc);
      }
      const acked = (await d.alarms.find(alarmId)) ?? doc;
      // Announced by the call that made the transition (a repeated acknowledgement changes nothing).
      await d.notifier.announce("alarm.acknowledged", acked.acknowledgedAt ?? now, acked);
      return alarmView(acked);
    },

    async putWebhook({ actor, userId, webhook }, { requestId }) {
      const user = requireSelfOrAdmin(actor, userId);
      if (user.userId !== userId) await request(d.nc, authCatalog.getUser, { actor, userId }, { requestId });
      await checkWebhookUrl(d.egress, webhook.url);
      const secret = webhook.secret ?? randomBytes(32).toString("base64url");
      const doc = await d.webhooks.put(userId, webhook.url, secret, new Date());
      return { ...webhookView(doc), secret };
    },

    async getWebhook({ actor, userId }) {
      requireSelfOrAdmin(actor, userId);
      const doc = await d.webhooks.find(userId);
      if (!doc) throw notFound("webhook");
      return webhookView(doc);
    },

    async deleteWebhook({ actor, userId }) {
      requireSelfOrAdmin(actor, userId);
      if (!(await d.webhooks.delete(userId))) throw notFound("webhook");
      return {};
    },
  };
}
