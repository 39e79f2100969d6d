import type { NatsConnection } from "@nats-io/transport-node";
import { authCatalog, authV2Routes, type TokenPair } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { Router } from "express";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/** Tokens must not be cached by browsers or proxies (RFC 6749 §5.1). */
const tokenHeaders = { "Cache-Control": "no-store", Pragma: "no-cache" };

/** Registers the modern auth routes on `router`. */
export function registerAuthV2(router: Router, nc: NatsConnection, mount: Mount): void {
  mount(router, authV2Routes.register, async ({ body, requestId }) => ({
    status: 201,
    body: await request(nc, authCatalog.register, { ...body, role: "user" }, { requestId }),
  }));

  mount(router, authV2Routes.token, async ({ body, req, requestId }) => {
    const client = clientInfo(req);
    const tokens: TokenPair =
      body.grant_type === "password"
        ? await request(
            nc,
            authCatalog.passwordGrant,
            { username: body.username, password: body.password, client },
            { requestId },
          )
        : await request(nc, authCatalog.refreshGrant, { refreshToken: body.refresh_token, client }, { requestId });
    return { status: 200, body: tokens, headers: tokenHeaders };
  });

  mount(router, authV2Routes.faceLogin, async ({ body, req, requestId }) => ({
    status: 200,
    headers: tokenHeaders,
    body: await request(
      nc,
      authCatalog.faceLogin,
      {
        username: body.username,
        encoding: body.encoding,
        client: clientInfo(req),
        ...(body.picture_id ? { pictureId: body.picture_id } : {}),
      },
      { requestId },
    ),
  }));

  mount(router, authV2Routes.logout, async ({ principal, requestId }) => {
    await request(nc, authCatalog.logout, { sessionId: principal.sessionId }, { requestId });
    return { status: 204 };
  });

  const jwks: Parameters<Mount>[2] = async ({ requestId }) => ({
    status: 200,
    headers: { "Cache-Control": "public, max-age=300" },
    body: await request(nc, authCatalog.jwks, {}, { requestId }),
  });
  mount(router, authV2Routes.jwks, jwks);
  mount(router, { ...authV2Routes.jwks, path: "/.well-known/jwks.json", operationId: "wellKnownJwks" }, jwks);

  // Answered from the verified token alone: no call to auth.
  mount(router, authV2Routes.me, async ({ principal }) => ({ status: 200, body: principal }));
}
