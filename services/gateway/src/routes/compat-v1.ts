import type { NatsConnection } from "@nats-io/transport-node";
import { authCatalog, compatV1Routes, MonitorId, TrellisError, UserId, V1Token } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/** Seed 002's success envelope. */
const ok = (data: unknown) => ({ status: 200, body: { success: true, data } });
const invalidCredentials = () => new TrellisError("unauthenticated", "Invalid credentials");

/**
 * The Altoponix API (seed 002), unchanged for existing monitors and web clients. Field names and
 * statuses follow the seed; the work is done by the same auth endpoints the modern API uses.
 */
export function registerCompatV1(router: Router, nc: NatsConnection, mount: Mount, authenticator: Authenticator): void {
  const r = compatV1Routes;

  mount(router, r.loginUser, async ({ body, req, requestId }) =>
    ok(
      await request(
        nc,
        authCatalog.v1LoginUser,
        { username: body.username, password: body.password, persist: body.persist ?? false, client: clientInfo(req) },
        { requestId },
      ),
    ),
  );

  mount(router, r.loginMonitor, async ({ body, req, requestId }) => {
    // No monitor can have an id that is not 32-hex: the same answer as a wrong password.
    const monitorId = MonitorId.safeParse(body.monitor_id);
    if (!monitorId.success) throw invalidCredentials();
    const reply = await request(
      nc,
      authCatalog.v1LoginMonitor,
      { monitorId: monitorId.data, password: body.password, persist: body.persist ?? false, client: clientInfo(req) },
      { requestId },
    );
    return ok(reply);
  });

  const logout = (kind: "user" | "monitor") => async (id: string, token: string, requestId: string) => {
    const parsed = V1Token.safeParse(token);
    if (!parsed.success) throw invalidCredentials();
    await request(nc, authCatalog.v1Logout, { kind, id, token: parsed.data }, { requestId });
    authenticator.forget(parsed.data);
    return ok(null);
  };
  mount(router, r.logoutUser, ({ body, requestId }) => logout("user")(body.user_id, body.token, requestId));
  mount(router, r.logoutMonitor, ({ body, requestId }) => logout("monitor")(body.monitor_id, body.token, requestId));

  const verify = (kind: "user" | "monitor") => async (id: string, token: string, requestId: string) =>
    ok((await request(nc, authCatalog.v1Verify, { kind, id, token }, { requestId })).valid);
  mount(router, r.verifyUser, ({ body, requestId }) => verify("user")(body.user_id, body.token, requestId));
  mount(router, r.verifyMonitor, ({ body, requestId }) => verify("monitor")(body.monitor_id, body.token, requestId));

  mount(router, r.ownersGet, async ({ principal: actor, query, requestId }) => {
    if (query.user_id === undefined) {
      return ok(await request(nc, authCatalog.v1Owners, { actor }, { requestId }));
    }
    const userId = UserId.safeParse(query.user_id);
    if (!userId.success) throw new TrellisError("invalid_argument", "user_id is invalid");
    const owners = await request(nc, authCatalog.v1Owners, { actor, userId: userId.data }, { requestId });
    const one = owners[userId.data];
    if (!one) throw new TrellisError("invalid_argument", "user_id is invalid");
    return ok(one);
  });

  mount(router, r.resetPassword, async ({ principal: actor, body, req, requestId }) => {
    const userId = UserId.safeParse(body.user_id);
    if (!userId.success) throw new TrellisError("invalid_argument", "user_id is invalid");
    await request(
      nc,
      authCatalog.setPassword,
      {
        actor,
        userId: userId.data,
        newPassword: body.new_password,
        client: clientInfo(req),
        ...(body.old_password ? { oldPassword: body.old_password } : {}),
      },
      { requestId },
    );
    return ok(null);
  });
}
