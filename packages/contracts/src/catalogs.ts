import { authCatalog } from "./auth.ts";
import { healthEndpoint } from "./health.ts";

/**
 * The NATS endpoints of each service, keyed by handler name. A service serves exactly its catalog;
 * the gateway and other services call through these objects.
 */
export const gatewayCatalog = { health: healthEndpoint("gateway") } as const;
export { authCatalog };
export const telemetryCatalog = { health: healthEndpoint("telemetry") } as const;
export const mediaCatalog = { health: healthEndpoint("media") } as const;
export const analysisCatalog = { health: healthEndpoint("analysis") } as const;

export const catalogs = {
  gateway: gatewayCatalog,
  auth: authCatalog,
  telemetry: telemetryCatalog,
  media: mediaCatalog,
  analysis: analysisCatalog,
} as const;
