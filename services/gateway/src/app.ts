import type { NatsConnection } from "@nats-io/transport-node";
import { type HttpRoute, TrellisError } from "@trellis/contracts";
import { tracingEnabled } from "@trellis/runtime";
import cors from "cors";
import express, { type Express, Router } from "express";
import helmet from "helmet";
import type { Logger } from "pino";
import type { Authenticator } from "./auth/authenticator.ts";
import type { GatewayConfig } from "./config.ts";
import { consoleDir, consoleRouter } from "./console/console.ts";
import { accessLog } from "./http/access-log.ts";
import { errorHandler } from "./http/errors.ts";
import { methodGuard } from "./http/methods.ts";
import { httpMetrics } from "./http/metrics.ts";
import { createMount } from "./http/mount.ts";
import { requestId } from "./http/request-id.ts";
import { httpTracing } from "./http/tracing.ts";
import { registerTus, TUS_EXPOSED_HEADERS } from "./http/tus.ts";
import { registerAccountSecurityV2 } from "./routes/account-security-v2.ts";
import { registerAlarmsV2 } from "./routes/alarms-v2.ts";
import { registerAnalysisV2 } from "./routes/analysis-v2.ts";
import { registerAnswersV2 } from "./routes/answers-v2.ts";
import { registerAuthV2 } from "./routes/auth-v2.ts";
import { registerCommandsV2 } from "./routes/commands-v2.ts";
import { registerCompatV1 } from "./routes/compat-v1.ts";
import { registerDocs } from "./routes/docs.ts";
import { registerLiveV2 } from "./routes/live-v2.ts";
import { registerMediaUploads, registerMediaV2 } from "./routes/media-v2.ts";
import { registerPresenceV2 } from "./routes/presence-v2.ts";
import { registerSystem } from "./routes/system.ts";
import { registerTelemetryV1 } from "./routes/telemetry-v1.ts";
import { registerTelemetryV2 } from "./routes/telemetry-v2.ts";
import { registerTrackedVideosV2 } from "./routes/tracked-videos-v2.ts";
import { registerUsersV2 } from "./routes/users-v2.ts";

export interface AppDeps {
  nc: NatsConnection;
  authenticator: Authenticator;
  log: Logger;
  config: Pick<
    GatewayConfig,
    "CORS_ORIGINS" | "BODY_LIMIT" | "REQUEST_TIMEOUT_MS" | "READINESS_TIMEOUT_MS" | "TRUST_PROXY" | "VALIDATE_RESPONSES"
  >;
  version: string;
}

/** The Express application and the contract routes it serves. */
export interface GatewayApp {
  app: Express;
  /** Every contract route mounted, in order: the OpenAPI document must list exactly these. */
  routes: readonly HttpRoute[];
}

/** The Express application, separate from `listen` so tests can drive it directly. */
export function createApp(deps: AppDeps): GatewayApp {
  const app = express();
  app.disable("x-powered-by");
  // Weak ETags hash every JSON body; API clients here do not revalidate, so skip the work.
  app.set("etag", false);
  app.set("trust proxy", deps.config.TRUST_PROXY);
  app.set("query parser", "simple");

  // First, so that everything after runs inside the request's span (when tracing is on).
  if (tracingEnabled()) app.use(httpTracing());
  app.use(requestId);
  app.use(httpMetrics());
  app.use(accessLog(deps.log));
  // JSON API headers per OWASP's REST guidance; headers aimed at HTML pages (COOP, Origin-Agent-
  // Cluster, X-Download-Options, ...) are left off the API's responses. /docs sets its own CSP.
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      crossOriginOpenerPolicy: false,
      originAgentCluster: false,
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xPermittedCrossDomainPolicies: false,
      xXssProtection: false,
      xFrameOptions: { action: "deny" },
    }),
  );
  // CORS headers matter only to browsers, which always send Origin; other clients skip the work.
  const corsHeaders = cors({
    origin: deps.config.CORS_ORIGINS === "*" ? "*" : deps.config.CORS_ORIGINS,
    exposedHeaders: ["X-Request-Id", "Retry-After", ...TUS_EXPOSED_HEADERS],
    maxAge: 600,
  });
  app.use((req, res, next) => (req.headers.origin ? corsHeaders(req, res, next) : next()));
  const { mount, mounted, table } = createMount({
    nc: deps.nc,
    authenticator: deps.authenticator,
    bodyLimit: deps.config.BODY_LIMIT,
    requestTimeoutMs: deps.config.REQUEST_TIMEOUT_MS,
    validateResponses: deps.config.VALIDATE_RESPONSES,
  });
  // 405 with `Allow` for a method a path does not declare, OPTIONS answered from the route table
  // (filled by the mounts below before the first request), and each request sent to the one route
  // its path resolves to.
  app.use(methodGuard(table));
  // Uploads (the body is a file's bytes, streamed to the service) come before the JSON parser,
  // which must not read their bodies, whatever Content-Type they declare.
  const uploads = Router();
  registerMediaUploads(uploads, mount);
  registerTus(uploads, mount);
  app.use(uploads);

  // Seed 002: "The HTTP Request must have the Content-Type header set to application/json";
  // `type` makes the parser ignore other types, which the routes then reject.
  app.use(express.json({ limit: deps.config.BODY_LIMIT, strict: false, type: "application/json" }));

  // One router for every other route: each nested router is another layer every request walks through.
  const api = Router();
  registerAuthV2(api, mount);
  registerUsersV2(api, mount);
  registerAccountSecurityV2(api, mount);
  registerCompatV1(api, mount, deps.authenticator);
  registerTelemetryV1(api, mount);
  registerTelemetryV2(api, mount);
  registerLiveV2(api, mount, { nc: deps.nc, authenticator: deps.authenticator });
  registerCommandsV2(api, mount);
  registerPresenceV2(api, mount);
  registerAlarmsV2(api, mount);
  registerMediaV2(api, mount);
  registerAnalysisV2(api, mount, { nc: deps.nc, authenticator: deps.authenticator });
  registerAnswersV2(api, mount);
  registerTrackedVideosV2(api, mount);
  registerSystem(api, mount, {
    nc: deps.nc,
    readinessTimeoutMs: deps.config.READINESS_TIMEOUT_MS,
    localUnready: () => (deps.authenticator.sessionsCheckable ? [] : ["revocations"]),
  });
  registerDocs(api, deps.version);
  table.add({ method: "get", path: "/openapi.json" });
  app.use(api);
  // The web console (static files and its cookie session): its own CSP and caching.
  app.use(consoleRouter({ mount, dir: consoleDir() }));

  app.use((req, _res, next) => {
    next(new TrellisError("not_found", `no route for ${req.method} ${req.path}`));
  });
  app.use(errorHandler);
  return { app, routes: mounted };
}
