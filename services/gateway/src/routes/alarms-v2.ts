import { alarmsCatalog, alarmsV2Routes } from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

/** Threshold alarm rules, alarms and webhooks. Authorization is decided by telemetry, from `actor`. */
export function registerAlarmsV2(router: Router, mount: Mount): void {
  const r = alarmsV2Routes;

  mount(router, r.createRule, async ({ params, body, call }) => {
    const rule = await call(alarmsCatalog.createAlarmRule, { monitorId: params.id, rule: body });
    return { status: 201, body: rule, headers: { Location: `/api/v2/monitors/${params.id}/alarm-rules` } };
  });

  mount(router, r.listRules, async ({ params, call }) => ({
    status: 200,
    body: await call(alarmsCatalog.listAlarmRules, { monitorId: params.id }),
  }));

  mount(router, r.deleteRule, async ({ params, call }) => {
    await call(alarmsCatalog.deleteAlarmRule, { ruleId: params.id });
    return { status: 204 };
  });

  mount(router, r.listAlarms, async ({ query, call }) => ({
    status: 200,
    body: await call(alarmsCatalog.listAlarms, {
      limit: query.limit,
      ...(query.state !== undefined ? { state: query.state } : {}),
      ...(query.monitor_id !== undefined ? { monitorId: query.monitor_id } : {}),
    }),
  }));

  mount(router, r.ackAlarm, async ({ params, call }) => ({
    status: 200,
    body: await call(alarmsCatalog.ackAlarm, { alarmId: params.id }),
  }));

  mount(router, r.putWebhook, async ({ params, body, call }) => ({
    status: 200,
    body: await call(alarmsCatalog.putWebhook, { userId: params.id, webhook: body }),
  }));

  mount(router, r.getWebhook, async ({ params, call }) => ({
    status: 200,
    body: await call(alarmsCatalog.getWebhook, { userId: params.id }),
  }));

  mount(router, r.deleteWebhook, async ({ params, call }) => {
    await call(alarmsCatalog.deleteWebhook, { userId: params.id });
    return { status: 204 };
  });
}
