export * from "./auth.ts";
export * from "./catalogs.ts";
export * from "./endpoint.ts";
export * from "./errors.ts";
export * from "./headers.ts";
export * from "./health.ts";
export * from "./http/auth-v2.ts";
export * from "./http/compat-v1.ts";
export * from "./http/errors-http.ts";
export * from "./http/openapi.ts";
export * from "./http/route.ts";
export * from "./http/system.ts";
export * from "./identity.ts";
export * from "./services.ts";
export * from "./telemetry.ts";

import type { HttpRoute } from "./http/route.ts";
import { systemRoutes } from "./http/system.ts";

/** Every HTTP route the gateway serves, in documentation order. */
export const httpRoutes: readonly HttpRoute[] = [...Object.values(systemRoutes)];
