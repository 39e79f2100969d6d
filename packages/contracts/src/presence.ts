/**
 * Offline detection and retention (issue 11, items 4 and 5): what a monitor shows of its presence,
 * the per-monitor overrides, and the presence events on NATS. Declared apart from `telemetry.ts`
 * (which spreads these in), so the pieces of issue 11 stay in files of their own.
 */
import { z } from "zod";
import { MonitorId, UserId } from "./identity.ts";
import { subject } from "./services.ts";

const s = (name: string) => subject("telemetry", 1, name);

/** Bounds of the inactivity timeout (per monitor and global): 10 s to 30 days. */
export const OFFLINE_AFTER_SECONDS_MIN = 10;
export const OFFLINE_AFTER_SECONDS_MAX = 30 * 86_400;
/** Bounds of the raw readings' retention (per monitor and global): 1 day to 10 years. */
export const RETENTION_DAYS_MIN = 1;
export const RETENTION_DAYS_MAX = 3_650;

export const OfflineAfterSeconds = z.number().int().min(OFFLINE_AFTER_SECONDS_MIN).max(OFFLINE_AFTER_SECONDS_MAX);
export const RetentionDays = z.number().int().min(RETENTION_DAYS_MIN).max(RETENTION_DAYS_MAX);

/**
 * What `Monitor` shows of presence and retention (spread into `Monitor`):
 * - `online`: a reading arrived within the monitor's inactivity timeout (false before the first);
 * - `lastSeen`: when the platform last received a reading from it (the stream's receive time, not
 *   the reading's own timestamp), null before the first;
 * - `offlineAfterSeconds` / `readingsRetentionDays`: the monitor's overrides, null when it follows
 *   telemetry's global setting.
 */
export const MonitorPresenceFields = {
  online: z.boolean(),
  lastSeen: z.iso.datetime().nullable(),
  offlineAfterSeconds: OfflineAfterSeconds.nullable(),
  readingsRetentionDays: RetentionDays.nullable(),
} as const;

/**
 * A change of a monitor's settings: each field given replaces the override, `null` removes it
 * (back to the global setting), a field left out is unchanged.
 */
export const MonitorSettingsChange = z
  .object({
    offlineAfterSeconds: OfflineAfterSeconds.nullable().optional(),
    readingsRetentionDays: RetentionDays.nullable().optional(),
  })
  .strict();
export type MonitorSettingsChange = z.infer<typeof MonitorSettingsChange>;

/** A presence transition, as an event on NATS and on the live subject. */
export const PresenceChange = z.object({
  monitorId: MonitorId,
  ownerId: UserId,
  /** `offline`: no reading within the timeout; `online`: the first reading after that (or ever). */
  state: z.enum(["online", "offline"]),
  /** When the last reading was received (ms since the epoch). */
  lastSeen: z.number().int().nullable(),
  /** The timeout in force when the transition was claimed. */
  offlineAfterSeconds: z.number().int().positive(),
  /** When the transition was claimed. */
  at: z.iso.datetime(),
});
export type PresenceChange = z.infer<typeof PresenceChange>;

/**
 * `monitor_offline` / `monitor_online` on the stream `TELEMETRY_EVENTS` (message id
 * `<kind>:<monitorId>:<claim time ms>`): each transition is claimed by one conditional update, so
 * it is published once whatever the number of telemetry instances.
 */
export const presenceEvents = {
  monitorOffline: { subject: s("events.monitor_offline"), schema: PresenceChange },
  monitorOnline: { subject: s("events.monitor_online"), schema: PresenceChange },
} as const;
