import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  authCatalog,
  CONSOLE_REFRESH_COOKIE,
  consoleRoutes,
  MFA_OTP_GRANT,
  type TokenPair,
  TrellisError,
} from "@trellis/contracts";
import express, { type Request, type Response, Router } from "express";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/**
 * The web console (`packages/console`, built by Vite into its `dist/`): static files under `/console/`
 * and the console's session routes (contract: `packages/contracts/src/http/console.ts`).
 *
 * Caching: Vite names every asset by a hash of its content, so `/console/assets/*` is immutable
 * for a year; `index.html` (and the service worker) must be revalidated every time (`no-cache`), so
 * a new build is picked up at the next load. Every other path under `/console/` that is not a file
 * is the single-page app's own route and answers `index.html`.
 *
 * CSP: scripts, styles, fonts and connections from this origin only; images and media also from
 * `blob:`/`data:` (the TOTP QR code is a data URL); no inline script, no eval, no framing.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const noStore = { "Cache-Control": "no-store", Pragma: "no-cache" };
/** Refresh tokens live as long as their session; the cookie is a session cookie plus this cap. */
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;

function cookieFor(req: Request, value: string, maxAge: number): string {
  const parts = [
    `${CONSOLE_REFRESH_COOKIE}=${value}`,
    "Path=/console/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${maxAge}`,
  ];
  if (req.secure) parts.push("Secure");
  return parts.join("; ");
}

/** The refresh token from the request's cookie, or undefined. */
export function refreshCookie(header: string | undefined): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === CONSOLE_REFRESH_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value.length > 0 && value.length <= 500 ? value : undefined;
    }
  }
  return undefined;
}

function answer(req: Request, tokens: TokenPair) {
  return {
    status: 200 as const,
    headers: { ...noStore, "Set-Cookie": cookieFor(req, tokens.refresh_token, COOKIE_MAX_AGE_S) },
    body: { access_token: tokens.access_token, token_type: tokens.token_type, expires_in: tokens.expires_in },
  };
}

export interface ConsoleOptions {
  mount: Mount;
  /** The built console (`index.html` and `assets/`); when it is missing `/console/` says how to build it. */
  dir: string;
}

/** The console's router; the app mounts it once, at the root (its paths start with `/console`). */
export function consoleRouter({ mount, dir }: ConsoleOptions): Router {
  const router = Router();

  mount(router, consoleRoutes.session, async ({ body, req, call }) => {
    const client = clientInfo(req);
    const tokens =
      body.grant_type === "password"
        ? await call(authCatalog.passwordGrant, { username: body.username, password: body.password, client })
        : body.grant_type === MFA_OTP_GRANT
          ? await call(authCatalog.mfaGrant, { challenge: body.challenge, method: "totp", code: body.otp, client })
          : await call(authCatalog.mfaGrant, {
              challenge: body.challenge,
              method: "recovery_code",
              code: body.recovery_code,
              client,
            });
    return answer(req, tokens);
  });

  mount(router, consoleRoutes.refresh, async ({ req, res, call }) => {
    const current = refreshCookie(req.get("cookie"));
    const clear = () => res.setHeader("Set-Cookie", cookieFor(req, "", 0));
    if (!current) {
      clear();
      throw new TrellisError("unauthenticated", "no console session: log in");
    }
    try {
      return answer(req, await call(authCatalog.refreshGrant, { refreshToken: current, client: clientInfo(req) }));
    } catch (err) {
      if (err instanceof TrellisError && err.code === "unauthenticated") clear();
      throw err;
    }
  });

  mount(router, consoleRoutes.logout, async ({ req, res, call }) => {
    const current = refreshCookie(req.get("cookie"));
    res.setHeader("Set-Cookie", cookieFor(req, "", 0));
    const sessionId = current?.split(".")[0];
    if (current && sessionId) {
      // Proves the cookie is a live session's (a made-up id ends nothing), then ends it.
      try {
        await call(authCatalog.refreshGrant, { refreshToken: current, client: clientInfo(req) });
        await call(authCatalog.logout, { sessionId });
      } catch (err) {
        if (!(err instanceof TrellisError && err.code === "unauthenticated")) throw err;
      }
    }
    return { status: 204 as const, headers: noStore };
  });

  const index = join(dir, "index.html");
  const sendIndex = (res: Response) => {
    if (!existsSync(index)) {
      res
        .status(503)
        .type("text/plain")
        .set("Cache-Control", "no-store")
        .send("The console is not built: `npm start` builds it (or `npm run build -w @trellis/console`).\n");
      return;
    }
    res.set("Cache-Control", "no-cache").sendFile(index);
  };
  router.use("/console", (req, res, next) => {
    res.setHeader("Content-Security-Policy", CONSOLE_CSP);
    res.setHeader("Referrer-Policy", "no-referrer");
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    if (req.originalUrl === "/console") return res.redirect(301, "/console/");
    next();
  });
  router.use(
    "/console",
    express.static(dir, {
      index: false,
      redirect: false,
      fallthrough: true,
      setHeaders: (res, path) => {
        const immutable = path.startsWith(join(dir, "assets"));
        res.setHeader("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
      },
    }),
  );
  router.get(/^\/console(\/.*)?$/, (req, res, next) => {
    // A missing asset is a 404, not the page (a stale index.html asking for an old hash must fail loudly).
    if (req.path.startsWith("/console/assets/")) return next();
    sendIndex(res);
  });
  return router;
}

/** Where the built console is: `CONSOLE_DIR`, else `packages/console/dist` of this checkout. */
export function consoleDir(): string {
  return process.env.CONSOLE_DIR || join(import.meta.dirname, "..", "..", "..", "..", "packages", "console", "dist");
}
