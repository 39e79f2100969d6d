export * from "./alarms.ts";
export * from "./analysis.ts";
export * from "./analysis-url.ts";
export * from "./answers.ts";
export * from "./auth.ts";
export * from "./auth-security.ts";
export * from "./catalogs.ts";
export * from "./commands.ts";
export * from "./dead-letters.ts";
export * from "./endpoint.ts";
export * from "./errors.ts";
export * from "./headers.ts";
export * from "./health.ts";
export * from "./http/account-security-v2.ts";
export * from "./http/alarms-v2.ts";
export * from "./http/analysis-v2.ts";
export * from "./http/answers-v2.ts";
export * from "./http/auth-v2.ts";
export * from "./http/commands-v2.ts";
export * from "./http/compat-v1.ts";
export * from "./http/console.ts";
export * from "./http/errors-http.ts";
export * from "./http/live-v2.ts";
export * from "./http/media-v2.ts";
export * from "./http/openapi.ts";
export * from "./http/presence-v2.ts";
export * from "./http/route.ts";
export * from "./http/system.ts";
export * from "./http/telemetry-v1.ts";
export * from "./http/telemetry-v2.ts";
export * from "./http/tracked-videos-v2.ts";
export * from "./identity.ts";
export * from "./live.ts";
export * from "./media.ts";
export * from "./presence.ts";
export * from "./services.ts";
export * from "./telemetry.ts";
export * from "./trace.ts";
export * from "./tracked-videos.ts";
export * from "./transcript-text.ts";
export * from "./tus.ts";

import { mfaV2Routes, sessionsV2Routes } from "./http/account-security-v2.ts";
import { alarmsV2Routes } from "./http/alarms-v2.ts";
import { analysisV2Routes } from "./http/analysis-v2.ts";
import { answersV2Routes } from "./http/answers-v2.ts";
import { authV2Routes, usersV2Routes } from "./http/auth-v2.ts";
import { commandsV2Routes } from "./http/commands-v2.ts";
import { compatV1Routes } from "./http/compat-v1.ts";
import { consoleRoutes } from "./http/console.ts";
import { liveV2Routes } from "./http/live-v2.ts";
import { mediaV2Routes } from "./http/media-v2.ts";
import { presenceV2Routes } from "./http/presence-v2.ts";
import type { HttpRoute } from "./http/route.ts";
import { systemRoutes } from "./http/system.ts";
import { telemetryV1Routes } from "./http/telemetry-v1.ts";
import { telemetryV2Routes } from "./http/telemetry-v2.ts";
import { trackedVideosV2Routes } from "./http/tracked-videos-v2.ts";

/** Every HTTP route the gateway serves, in documentation order. */
export const httpRoutes: readonly HttpRoute[] = [
  ...Object.values(systemRoutes),
  ...Object.values(authV2Routes),
  ...Object.values(usersV2Routes),
  ...Object.values(sessionsV2Routes),
  ...Object.values(mfaV2Routes),
  ...Object.values(compatV1Routes),
  ...Object.values(telemetryV1Routes),
  ...Object.values(telemetryV2Routes),
  ...Object.values(liveV2Routes),
  ...Object.values(commandsV2Routes),
  ...Object.values(presenceV2Routes),
  ...Object.values(alarmsV2Routes),
  ...Object.values(mediaV2Routes),
  ...Object.values(analysisV2Routes),
  ...Object.values(answersV2Routes),
  ...Object.values(trackedVideosV2Routes),
  ...Object.values(consoleRoutes),
];
