import type { telemetryCatalog } from "@trellis/contracts";
import type { ServiceParts } from "@trellis/runtime";

/** The telemetry service's handlers; each handler module provides a slice of them. */
export type TelemetryHandlers = ServiceParts<typeof telemetryCatalog>["handlers"];
