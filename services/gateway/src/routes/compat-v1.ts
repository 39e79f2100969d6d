import { authCatalog, compatV1Routes, MonitorId, TrellisError, UserId, V1Token } from "@trellis/contracts";
import type { Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import { ok, sendOkStream } from "../compat/envelope.ts";
import { clientInfo } from "../http/client-info.ts";
import type { Caller, Mount } from "../http/mount.ts";

const invalidCredentials = () => new TrellisError("unauthenticated", "Invalid credentials");

/**
 * The Altoponix API (seed 002), unchanged for existing monitors and web clients. Field names and
 * statuses follow the seed; the work is done by the same auth endpoints the modern API uses.
 */
export function registerCompatV1(router: Router, mount: Mount, authenticator: Authenticator): void {
  const r = compatV1Routes;

  mount(router, r.loginUser, async ({ body, req, call }) =>
    ok(
      await call(authCatalog.v1LoginUser, {
        username: body.username,
        password: body.password,
        persist: body.persist ?? false,
        client: clientInfo(req),
      }),
    ),
  );

  mount(router, r.loginMonitor, async ({ body, req, call }) => {
    // No monitor can have an id that is not 32-hex: the same answer as a wrong password.
    const monitorId = MonitorId.safeParse(body.monitor_id);
    if (!monitorId.success) throw invalidCredentials();
    return ok(
      await call(authCatalog.v1LoginMonitor, {
        monitorId: monitorId.data,
        password: body.password,
        persist: body.persist ?? false,
        client: clientInfo(req),
      }),
    );
  });

  const logout = async (call: Caller, kind: "user" | "monitor", id: string, token: string) => {
    const parsed = V1Token.safeParse(token);
    if (!parsed.success) throw invalidCredentials();
    await call(authCatalog.v1Logout, { kind, id, token: parsed.data });
    authenticator.forget(parsed.data);
    return ok(null);
  };
  mount(router, r.logoutUser, ({ body, call }) => logout(call, "user", body.user_id, body.token));
  mount(router, r.logoutMonitor, ({ body, call }) => logout(call, "monitor", body.monitor_id, body.token));

  const verify = async (call: Caller, kind: "user" | "monitor", id: string, token: string) =>
    ok((await call(authCatalog.v1Verify, { kind, id, token })).valid);
  mount(router, r.verifyUser, ({ body, call }) => verify(call, "user", body.user_id, body.token));
  mount(router, r.verifyMonitor, ({ body, call }) => verify(call, "monitor", body.monitor_id, body.token));

  mount(router, r.ownersGet, async ({ query, call, req, res }) => {
    if (query.user_id === undefined) {
      // Every user (admin): streamed, it grows with the users.
      await sendOkStream(req, res, await call.stream(authCatalog.v1OwnersAll, {}));
      return undefined;
    }
    const userId = UserId.safeParse(query.user_id);
    if (!userId.success) throw new TrellisError("invalid_argument", "user_id is invalid");
    const owners = await call(authCatalog.v1Owners, { userId: userId.data });
    const one = owners[userId.data];
    if (!one) throw new TrellisError("invalid_argument", "user_id is invalid");
    return ok(one);
  });

  mount(router, r.resetPassword, async ({ body, req, call }) => {
    const userId = UserId.safeParse(body.user_id);
    if (!userId.success) throw new TrellisError("invalid_argument", "user_id is invalid");
    await call(authCatalog.setPassword, {
      userId: userId.data,
      newPassword: body.new_password,
      client: clientInfo(req),
      ...(body.old_password ? { oldPassword: body.old_password } : {}),
    });
    return ok(null);
  });
}
