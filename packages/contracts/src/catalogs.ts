import { alarmsCatalog } from "./alarms.ts";
import { analysisJobsCatalog } from "./analysis.ts";
import { analysisUrlCatalog } from "./analysis-url.ts";
import { answersCatalog } from "./answers.ts";
import { authCatalog } from "./auth.ts";
import { commandsCatalog } from "./commands.ts";
import { healthEndpoint } from "./health.ts";
import { mediaCatalog } from "./media.ts";
import { telemetryCatalog } from "./telemetry.ts";
import { trackedVideosCatalog } from "./tracked-videos.ts";

/**
 * The NATS endpoints of each service, keyed by handler name. A service serves exactly its catalog;
 * the gateway and other services call through these objects.
 */
export const gatewayCatalog = { health: healthEndpoint("gateway") } as const;
export { authCatalog, mediaCatalog, telemetryCatalog };
export const analysisCatalog = {
  ...analysisJobsCatalog,
  ...analysisUrlCatalog,
  ...trackedVideosCatalog,
  ...answersCatalog,
} as const;

export const catalogs = {
  gateway: gatewayCatalog,
  auth: authCatalog,
  telemetry: { ...telemetryCatalog, ...commandsCatalog, ...alarmsCatalog },
  media: mediaCatalog,
  analysis: analysisCatalog,
} as const;
