import type { NatsConnection } from "@nats-io/transport-node";
import { TrellisError } from "@trellis/contracts";
import cors from "cors";
import express, { type Express } from "express";
import helmet from "helmet";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import type { Authenticator } from "./auth/authenticator.ts";
import type { GatewayConfig } from "./config.ts";
import { errorHandler } from "./http/errors.ts";
import { createMount } from "./http/mount.ts";
import { requestId } from "./http/request-id.ts";
import { authV2Router } from "./routes/auth-v2.ts";
import { compatV1Router } from "./routes/compat-v1.ts";
import { docsRouter } from "./routes/docs.ts";
import { systemRouter } from "./routes/system.ts";
import { usersV2Router } from "./routes/users-v2.ts";

export interface AppDeps {
  nc: NatsConnection;
  authenticator: Authenticator;
  log: Logger;
  config: Pick<
    GatewayConfig,
    "CORS_ORIGINS" | "BODY_LIMIT" | "REQUEST_TIMEOUT_MS" | "READINESS_TIMEOUT_MS" | "TRUST_PROXY"
  >;
  version: string;
}

/** The Express application, separate from `listen` so tests can drive it directly. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.config.TRUST_PROXY);
  app.set("query parser", "simple");

  app.use(requestId);
  app.use(
    pinoHttp({
      logger: deps.log,
      genReqId: (req) => (req as express.Request).id ?? "",
      // `reqId` on every line, the same key the services use for the id they got over NATS.
      customProps: (req) => ({ reqId: (req as express.Request).id }),
      // Query strings of the compatibility API carry tokens; log the path only.
      serializers: {
        req: (req) => ({ method: req.method, url: String(req.url).split("?")[0] }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? "error" : "info"),
    }),
  );
  app.use(helmet());
  app.use(
    cors({
      origin: deps.config.CORS_ORIGINS === "*" ? "*" : deps.config.CORS_ORIGINS,
      exposedHeaders: ["X-Request-Id", "Retry-After"],
      maxAge: 600,
    }),
  );
  // Seed 002: "The HTTP Request must have the Content-Type header set to application/json";
  // `type` makes the parser ignore other types, which the routes then reject.
  app.use(express.json({ limit: deps.config.BODY_LIMIT, strict: false, type: "application/json" }));

  const mount = createMount(deps.authenticator, deps.config.BODY_LIMIT);
  app.use(
    systemRouter(mount, {
      nc: deps.nc,
      readinessTimeoutMs: deps.config.READINESS_TIMEOUT_MS,
      requestTimeoutMs: deps.config.REQUEST_TIMEOUT_MS,
    }),
  );
  app.use(authV2Router(deps.nc, mount));
  app.use(usersV2Router(deps.nc, mount));
  app.use(compatV1Router(deps.nc, mount, deps.authenticator));
  app.use(docsRouter(deps.version));

  app.use((req, _res, next) => {
    next(new TrellisError("not_found", `no route for ${req.method} ${req.path}`));
  });
  app.use(errorHandler);
  return app;
}
