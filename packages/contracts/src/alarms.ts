import { z } from "zod";
import { endpoint } from "./endpoint.ts";
import { MonitorId, Principal, UserId } from "./identity.ts";
import { subject } from "./services.ts";
import { Measurement } from "./telemetry.ts";

const s = (name: string) => subject("telemetry", 1, name);

/** Longest `for_seconds` a rule may ask for (a day). */
export const MAX_ALARM_FOR_SECONDS = 86_400;
/** Most rules one monitor may have. */
export const MAX_ALARM_RULES_PER_MONITOR = 100;

const finite = z.number().finite();

/**
 * When a reading breaches a rule: `above` (value > threshold), `below` (value < threshold),
 * `outside` (value < low or value > high).
 */
export const AlarmCondition = z.enum(["above", "below", "outside"]);
export type AlarmCondition = z.infer<typeof AlarmCondition>;

/** The band of an `outside` rule: readings in `[low, high]` are inside. */
export const AlarmBand = z
  .object({ low: finite, high: finite })
  .strict()
  .refine((b) => b.low < b.high, { message: "low must be below high" });
export type AlarmBand = z.infer<typeof AlarmBand>;

const ruleFields = {
  measurement: Measurement,
  /** How long (reading timestamps, seconds) the condition must hold without a break before an alarm is raised. */
  for_seconds: z.number().int().min(0).max(MAX_ALARM_FOR_SECONDS).default(0),
  /** How far back inside the line a value must be (more than this) to clear an open alarm. */
  hysteresis: finite.min(0).default(0),
};

/**
 * A threshold rule as a client writes it: `threshold` is a number for `above` / `below` and
 * `{low, high}` for `outside`.
 */
export const AlarmRuleInput = z
  .discriminatedUnion("condition", [
    z.object({ ...ruleFields, condition: z.literal("above"), threshold: finite }).strict(),
    z.object({ ...ruleFields, condition: z.literal("below"), threshold: finite }).strict(),
    z.object({ ...ruleFields, condition: z.literal("outside"), threshold: AlarmBand }).strict(),
  ])
  .refine((r) => r.condition !== "outside" || 2 * r.hysteresis < r.threshold.high - r.threshold.low, {
    message: "hysteresis must be less than half the band (high - low), or the alarm could never clear",
    path: ["hysteresis"],
  });
export type AlarmRuleInput = z.output<typeof AlarmRuleInput>;

export const AlarmRuleId = z.string().regex(/^[0-9a-f]{24}$/, "must be 24 hexadecimal characters");

export const AlarmRule = z.object({
  id: AlarmRuleId,
  monitor_id: z.string(),
  measurement: Measurement,
  condition: AlarmCondition,
  threshold: z.union([finite, z.object({ low: finite, high: finite })]),
  for_seconds: z.number().int(),
  hysteresis: z.number(),
  created_at: z.iso.datetime(),
});
export type AlarmRule = z.infer<typeof AlarmRule>;

export const AlarmState = z.enum(["active", "acknowledged", "cleared"]);
export type AlarmState = z.infer<typeof AlarmState>;

/**
 * `<ruleId>-<n>`: a rule's n-th alarm; `<monitorId>-<ms>`: a monitor's offline alarm, by the time
 * its offline transition was claimed. Both deterministic, so two instances cannot raise one twice.
 */
export const AlarmId = z
  .string()
  .regex(/^(?:[0-9a-f]{24}-[1-9]\d{0,9}|[0-9a-f]{32}-[1-9]\d{0,15})$/, "not an alarm id");

/** `threshold`: raised by a rule on readings; `offline`: raised when the monitor went silent (no rule). */
export const AlarmKind = z.enum(["threshold", "offline"]);
export type AlarmKind = z.infer<typeof AlarmKind>;

/**
 * One alarm: raised when the rule's condition held for `for_seconds`, `active` until acknowledged
 * (`acknowledged`) and `cleared` when the value came back inside by more than the hysteresis.
 * Times are ISO strings; `raised_at` / `cleared_at` are the timestamps of the readings that
 * raised / cleared it. An offline alarm (`kind: "offline"`) is raised when the monitor is declared
 * offline (silent past its inactivity timeout) and cleared when it is back online (its next reading).
 */
export const Alarm = z.object({
  id: AlarmId,
  kind: AlarmKind,
  /** The rule that raised it; null for an offline alarm (as are measurement, condition and threshold). */
  rule_id: AlarmRuleId.nullable(),
  monitor_id: z.string(),
  owner_id: UserId,
  measurement: Measurement.nullable(),
  condition: AlarmCondition.nullable(),
  threshold: AlarmRule.shape.threshold.nullable(),
  state: AlarmState,
  /**
   * The value of the reading that raised it; for an offline alarm, the seconds the monitor had been
   * silent when it was declared offline.
   */
  value: z.number(),
  /** When the condition started to hold (the first reading of the breach). */
  breach_started_at: z.iso.datetime(),
  raised_at: z.iso.datetime(),
  acknowledged_at: z.iso.datetime().nullable(),
  acknowledged_by: UserId.nullable(),
  cleared_at: z.iso.datetime().nullable(),
  /** The value of the reading that cleared it (null when it was cleared by deleting its rule). */
  cleared_value: z.number().nullable(),
});
export type Alarm = z.infer<typeof Alarm>;

export const AlarmEventType = z.enum(["alarm.raised", "alarm.acknowledged", "alarm.cleared"]);
export type AlarmEventType = z.infer<typeof AlarmEventType>;

/**
 * An alarm transition, as published on NATS (events stream and the live subject) and POSTed to
 * webhooks. `id` is `<alarmId>:<raised|acknowledged|cleared>`: the same transition always has the
 * same id (JetStream dedupes on it; webhook receivers should too).
 */
export const AlarmEvent = z.object({
  id: z.string(),
  type: AlarmEventType,
  at: z.iso.datetime(),
  alarm: Alarm,
});
export type AlarmEvent = z.infer<typeof AlarmEvent>;

/** Alarm transitions in `TELEMETRY_EVENTS` (durable). */
export const alarmEvents = {
  raised: { subject: s("events.alarm_raised"), schema: AlarmEvent },
  acknowledged: { subject: s("events.alarm_acknowledged"), schema: AlarmEvent },
  cleared: { subject: s("events.alarm_cleared"), schema: AlarmEvent },
} as const;

/* Live events: `liveSubjects.of(monitorId, "alarm")` (see `./live.ts`) carries `AlarmEvent`. */

/**
 * Broadcast (core NATS, every telemetry instance listens, no queue group) when a monitor's rules
 * change, so each instance drops its cached rules for that monitor.
 */
export const alarmRulesChanged = {
  subject: s("alarms.rules_changed"),
  schema: z.object({ monitorId: z.string() }),
} as const;

/**
 * A webhook delivery job (JetStream work queue `TELEMETRY_WEBHOOKS`): one per user and alarm
 * transition; the event id is the message id, so the same transition is queued once.
 */
export const WEBHOOKS_STREAM = "TELEMETRY_WEBHOOKS";
export const WEBHOOKS_CONSUMER = "telemetry-webhooks";
export const webhookJobs = {
  deliver: {
    subject: s("webhooks.deliver"),
    schema: z.object({ userId: UserId, event: AlarmEvent }),
  },
} as const;
export type WebhookJob = z.infer<typeof webhookJobs.deliver.schema>;

/** Header with the HMAC-SHA256 signature: `t=<unix seconds>,v1=<hex of HMAC(secret, "<t>.<raw body>")>`. */
export const WEBHOOK_SIGNATURE_HEADER = "Trellis-Signature";
/** Header with the event id (the same on every retry of one transition). */
export const WEBHOOK_EVENT_ID_HEADER = "Trellis-Event-Id";

/** Webhook secrets: 16-200 visible ASCII characters (a generated one is 32 random bytes, base64url). */
export const WebhookSecret = z
  .string()
  .min(16, "must be at least 16 characters")
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "must be visible ASCII characters");

export const WebhookUrl = z
  .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
  .max(2_048)
  .refine(
    (u) => {
      if (!URL.canParse(u)) return true; // reported by z.url
      const url = new URL(u);
      return !url.username && !url.password;
    },
    { message: "must not carry credentials" },
  );

export const WebhookInput = z.object({ url: WebhookUrl, secret: WebhookSecret.optional() }).strict();
export type WebhookInput = z.infer<typeof WebhookInput>;

/** A user's webhook as read back: never the secret. */
export const Webhook = z.object({
  user_id: UserId,
  url: z.string(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type Webhook = z.infer<typeof Webhook>;
/** The answer to setting a webhook: the secret, shown in this answer (generated when none was given). */
export const WebhookWithSecret = Webhook.extend({ secret: z.string() });

const Actor = { actor: Principal };

export const alarmsCatalog = {
  createAlarmRule: endpoint({
    subject: s("alarms.rules.create"),
    request: z.object({ ...Actor, monitorId: MonitorId, rule: AlarmRuleInput }),
    reply: AlarmRule,
    description: "Adds a threshold rule to a monitor (its owner or an admin).",
  }),
  listAlarmRules: endpoint({
    subject: s("alarms.rules.list"),
    request: z.object({ ...Actor, monitorId: MonitorId }),
    reply: z.object({ items: z.array(AlarmRule) }),
    description: "A monitor's threshold rules (its owner or an admin).",
  }),
  deleteAlarmRule: endpoint({
    subject: s("alarms.rules.delete"),
    request: z.object({ ...Actor, ruleId: AlarmRuleId }),
    reply: z.object({}),
    description: "Deletes a rule (the monitor's owner or an admin); its open alarm is cleared.",
  }),
  listAlarms: endpoint({
    subject: s("alarms.list"),
    request: z.object({
      ...Actor,
      state: AlarmState.optional(),
      monitorId: MonitorId.optional(),
      limit: z.number().int().min(1).max(1_000).default(100),
    }),
    reply: z.object({ items: z.array(Alarm) }),
    description: "Alarms of the caller's monitors (every monitor's for an admin), newest first.",
  }),
  ackAlarm: endpoint({
    subject: s("alarms.ack"),
    request: z.object({ ...Actor, alarmId: AlarmId }),
    reply: Alarm,
    description: "Acknowledges an active alarm (the monitor's owner or an admin).",
  }),
  putWebhook: endpoint({
    subject: s("alarms.webhook.put"),
    request: z.object({ ...Actor, userId: UserId, webhook: WebhookInput }),
    reply: WebhookWithSecret,
    description: "Sets a user's alarm webhook (self or admin); answers the signing secret.",
  }),
  getWebhook: endpoint({
    subject: s("alarms.webhook.get"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: Webhook,
    description: "A user's alarm webhook, without its secret (self or admin).",
  }),
  deleteWebhook: endpoint({
    subject: s("alarms.webhook.delete"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: z.object({}),
    description: "Removes a user's alarm webhook (self or admin).",
  }),
} as const;
