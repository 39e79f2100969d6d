import { z } from "zod";
import { MonitorId } from "../identity.ts";
import { OfflineAfterSeconds, RetentionDays } from "../presence.ts";
import { Monitor } from "../telemetry.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

/**
 * A monitor's settings in the modern API (issue 11: offline detection and retention). The
 * monitor views (`GET /api/v2/monitors`, `GET /api/v2/monitors/{id}`) show `online`, `lastSeen`
 * and the overrides.
 */
export const presenceV2Routes = {
  updateSettings: route({
    method: "patch",
    path: "/api/v2/monitors/:id",
    operationId: "updateMonitorSettings",
    summary:
      "Change a monitor's overrides (its owner or an admin): `offline_after_seconds` (inactivity timeout before `monitor_offline`) and `readings_retention_days` (how long its raw readings are kept). A value replaces the override, `null` goes back to telemetry's global setting, a field left out is unchanged.",
    tags: ["monitors"],
    auth: "bearer",
    params: z.object({ id: MonitorId }),
    body: z
      .object({
        offline_after_seconds: OfflineAfterSeconds.nullable()
          .optional()
          .describe(
            "Seconds without a reading before the monitor is offline (10 s to 30 days); null: the global default.",
          ),
        readings_retention_days: RetentionDays.nullable()
          .optional()
          .describe(
            "Days raw readings are kept (1 to 3650); null: the global default. Rollups are kept by their own windows.",
          ),
      })
      .strict(),
    responses: {
      200: { description: "The monitor with its new settings.", schema: Monitor },
      404: { description: "No such monitor, or not yours (the same answer).", schema: ErrorResponse },
      ...authErrors,
    },
  }),
} as const;
