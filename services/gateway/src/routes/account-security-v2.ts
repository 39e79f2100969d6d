import { authCatalog, mfaV2Routes, sessionsV2Routes } from "@trellis/contracts";
import type { Router } from "express";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/** Secrets and recovery codes must not be cached by browsers or proxies. */
const noStore = { "Cache-Control": "no-store", Pragma: "no-cache" };

/** The caller's sessions and two-factor login; auth decides everything from `actor`. */
export function registerAccountSecurityV2(router: Router, mount: Mount): void {
  const s = sessionsV2Routes;
  mount(router, s.list, async ({ call }) => ({ status: 200, body: await call(authCatalog.listSessions, {}) }));
  mount(router, s.revoke, async ({ params, call }) => {
    await call(authCatalog.revokeSession, { sessionId: params.id });
    return { status: 204 };
  });
  mount(router, s.revokeMany, async ({ call }) => ({
    status: 200,
    body: await call(authCatalog.revokeSessions, { keepCurrent: true }),
  }));

  const m = mfaV2Routes;
  mount(router, m.status, async ({ call }) => ({ status: 200, body: await call(authCatalog.mfaStatus, {}) }));
  mount(router, m.enroll, async ({ call }) => ({
    status: 201,
    headers: noStore,
    body: await call(authCatalog.totpEnroll, {}),
  }));
  mount(router, m.confirm, async ({ body, req, call }) => ({
    status: 200,
    headers: noStore,
    body: await call(authCatalog.totpConfirm, { code: body.code, client: clientInfo(req) }),
  }));
  mount(router, m.disable, async ({ body, req, call }) => {
    await call(authCatalog.totpDisable, { code: body.code, client: clientInfo(req) });
    return { status: 204 };
  });
  mount(router, m.adminReset, async ({ params, call }) => {
    await call(authCatalog.mfaReset, { userId: params.id });
    return { status: 204 };
  });
}
