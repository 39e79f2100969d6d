import type { Monitor } from "@trellis/contracts";
import type { MonitorDoc } from "../store/monitors.ts";

/** Latest instant an ISO-8601 string with a four-digit year can show. */
const MAX_ISO_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const monitorView = (doc: MonitorDoc): Monitor => ({
  id: doc._id,
  ownerId: doc.ownerId,
  createdAt: doc.createdAt.toISOString(),
  lastReadingAt:
    doc.lastReadingAt === undefined || doc.lastReadingAt === null
      ? null
      : new Date(Math.min(doc.lastReadingAt, MAX_ISO_MS)).toISOString(),
  readingsStored: doc.readingsStored,
  readingsRejected: doc.readingsRejected,
  online: doc.presence === "online",
  lastSeen: doc.lastSeenAt === undefined ? null : new Date(Math.min(doc.lastSeenAt, MAX_ISO_MS)).toISOString(),
  offlineAfterSeconds: doc.offlineAfterSeconds ?? null,
  readingsRetentionDays: doc.readingsRetentionDays ?? null,
});
