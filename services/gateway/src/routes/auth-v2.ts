import { authCatalog, authV2Routes, MFA_OTP_GRANT, type TokenPair } from "@trellis/contracts";
import type { Router } from "express";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/** Tokens must not be cached by browsers or proxies (RFC 6749 §5.1). */
const tokenHeaders = { "Cache-Control": "no-store", Pragma: "no-cache" };

/** Registers the modern auth routes on `router`. */
export function registerAuthV2(router: Router, mount: Mount): void {
  mount(router, authV2Routes.register, async ({ body, call }) => ({
    status: 201,
    body: await call(authCatalog.register, { ...body, role: "user" }),
  }));

  mount(router, authV2Routes.token, async ({ body, req, call }) => {
    const client = clientInfo(req);
    let tokens: TokenPair;
    switch (body.grant_type) {
      case "password":
        tokens = await call(authCatalog.passwordGrant, { username: body.username, password: body.password, client });
        break;
      case "refresh_token":
        tokens = await call(authCatalog.refreshGrant, { refreshToken: body.refresh_token, client });
        break;
      case MFA_OTP_GRANT:
        tokens = await call(authCatalog.mfaGrant, {
          challenge: body.challenge,
          method: "totp",
          code: body.otp,
          client,
        });
        break;
      default:
        tokens = await call(authCatalog.mfaGrant, {
          challenge: body.challenge,
          method: "recovery_code",
          code: body.recovery_code,
          client,
        });
    }
    return { status: 200, body: tokens, headers: tokenHeaders };
  });

  mount(router, authV2Routes.faceLogin, async ({ body, req, call }) => ({
    status: 200,
    headers: tokenHeaders,
    body: await call(authCatalog.faceLogin, {
      username: body.username,
      encoding: body.encoding,
      client: clientInfo(req),
      ...(body.picture_id ? { pictureId: body.picture_id } : {}),
    }),
  }));

  mount(router, authV2Routes.logout, async ({ principal, call }) => {
    await call(authCatalog.logout, { sessionId: principal.sessionId });
    return { status: 204 };
  });

  for (const jwks of [authV2Routes.jwks, authV2Routes.wellKnownJwks]) {
    mount(router, jwks, async ({ call }) => ({
      status: 200,
      headers: { "Cache-Control": "public, max-age=300" },
      body: await call(authCatalog.jwks, {}),
    }));
  }

  // Answered from the verified token alone: no call to auth.
  mount(router, authV2Routes.me, async ({ principal }) => ({ status: 200, body: principal }));
}
