import { presenceV2Routes, telemetryCatalog } from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

/** A monitor's settings (offline detection, retention), answered by telemetry. */
export function registerPresenceV2(router: Router, mount: Mount): void {
  mount(router, presenceV2Routes.updateSettings, async ({ params, body, call }) => ({
    status: 200,
    body: await call(telemetryCatalog.updateMonitorSettings, {
      monitorId: params.id,
      change: {
        ...(body.offline_after_seconds !== undefined ? { offlineAfterSeconds: body.offline_after_seconds } : {}),
        ...(body.readings_retention_days !== undefined ? { readingsRetentionDays: body.readings_retention_days } : {}),
      },
    }),
  }));
}
