import { z } from "zod";
import {
  Alarm,
  AlarmId,
  AlarmRule,
  AlarmRuleId,
  AlarmRuleInput,
  AlarmState,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  Webhook,
  WebhookInput,
  WebhookWithSecret,
} from "../alarms.ts";
import { MonitorId, UserId } from "../identity.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const tags = ["alarms"];
const notFound = (what: string) => ({ 404: { description: `No such ${what}.`, schema: ErrorResponse } }) as const;
const noContent = { 204: { description: "Done." } } as const;

/**
 * Threshold alarms and their webhooks. Someone else's monitor, rule or alarm is a 404, as one
 * that does not exist (ids cannot be probed).
 */
export const alarmsV2Routes = {
  createRule: route({
    method: "post",
    path: "/api/v2/monitors/:id/alarm-rules",
    operationId: "createAlarmRule",
    summary:
      "Add a threshold rule to a monitor (owner or admin): `{measurement, condition: above|below|outside, threshold: number | {low, high}, for_seconds, hysteresis}`. An alarm is raised when the condition held without a break for `for_seconds` (reading timestamps) and cleared when the value is back inside by more than `hysteresis`; a rule has at most one open alarm. For `outside`, `low` must be below `high` and `hysteresis` less than half of `high - low` (else 400: the alarm could never clear).",
    tags,
    auth: "bearer",
    params: z.object({ id: MonitorId }),
    body: AlarmRuleInput,
    responses: {
      201: { description: "The new rule.", schema: AlarmRule },
      ...notFound("monitor"),
      409: { description: "The monitor has as many rules as allowed.", schema: ErrorResponse },
      ...authErrors,
      400: {
        description:
          "The request is malformed (`details.issues` names each field), or `low` is not below `high`, or the hysteresis is not under half the band.",
        schema: ErrorResponse,
      },
    },
  }),
  listRules: route({
    method: "get",
    path: "/api/v2/monitors/:id/alarm-rules",
    operationId: "listAlarmRules",
    summary: "A monitor's threshold rules (owner or admin).",
    tags,
    auth: "bearer",
    params: z.object({ id: MonitorId }),
    responses: {
      200: { description: "The rules, oldest first.", schema: z.object({ items: z.array(AlarmRule) }) },
      ...notFound("monitor"),
      ...authErrors,
    },
  }),
  deleteRule: route({
    method: "delete",
    path: "/api/v2/alarm-rules/:id",
    operationId: "deleteAlarmRule",
    summary: "Delete a rule (the monitor's owner or admin). Its open alarm, if any, is cleared; past alarms stay.",
    tags,
    auth: "bearer",
    params: z.object({ id: AlarmRuleId }),
    responses: { ...noContent, ...notFound("rule"), ...authErrors },
  }),
  listAlarms: route({
    method: "get",
    path: "/api/v2/alarms",
    operationId: "listAlarms",
    summary: "Alarms of the caller's monitors (every monitor's for an admin), newest first, optionally by state.",
    tags,
    auth: "bearer",
    query: z.object({
      state: AlarmState.optional(),
      monitor_id: MonitorId.optional(),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
    }),
    responses: { 200: { description: "Alarms.", schema: z.object({ items: z.array(Alarm) }) }, ...authErrors },
  }),
  ackAlarm: route({
    method: "post",
    path: "/api/v2/alarms/:id/ack",
    operationId: "acknowledgeAlarm",
    summary: "Acknowledge an active alarm (owner or admin). Acknowledging it again answers it unchanged.",
    tags,
    auth: "bearer",
    params: z.object({ id: AlarmId }),
    responses: {
      200: { description: "The alarm, acknowledged.", schema: Alarm },
      ...notFound("alarm"),
      409: { description: "The alarm is cleared already.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  putWebhook: route({
    method: "put",
    path: "/api/v2/users/:id/webhook",
    operationId: "putAlarmWebhook",
    summary: `Set the user's alarm webhook (self or admin). Every alarm transition of the user's monitors is POSTed to \`url\` as an \`AlarmEvent\`, with \`${WEBHOOK_SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>\` and \`${WEBHOOK_EVENT_ID_HEADER}\` (the same on retries); 5xx, 408, 429 and network errors are retried with exponential backoff. Without \`secret\` one is generated; the answer is the only place it is shown.`,
    tags,
    auth: "bearer",
    params: z.object({ id: UserId }),
    body: WebhookInput,
    responses: {
      200: { description: "The webhook and its secret.", schema: WebhookWithSecret },
      404: { description: "No such user (admins).", schema: ErrorResponse },
      ...authErrors,
      403: {
        schema: ErrorResponse,
        description:
          "Another user's webhook (not an admin); or a `url` whose host is or resolves to an address that is not public (loopback, private, link-local, …): see docs/egress.md.",
      },
    },
  }),
  getWebhook: route({
    method: "get",
    path: "/api/v2/users/:id/webhook",
    operationId: "getAlarmWebhook",
    summary: "The user's alarm webhook, without its secret (self or admin).",
    tags,
    auth: "bearer",
    params: z.object({ id: UserId }),
    responses: { 200: { description: "The webhook.", schema: Webhook }, ...notFound("webhook"), ...authErrors },
  }),
  deleteWebhook: route({
    method: "delete",
    path: "/api/v2/users/:id/webhook",
    operationId: "deleteAlarmWebhook",
    summary: "Remove the user's alarm webhook (self or admin).",
    tags,
    auth: "bearer",
    params: z.object({ id: UserId }),
    responses: { ...noContent, ...notFound("webhook"), ...authErrors },
  }),
} as const;
