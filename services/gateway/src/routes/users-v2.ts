import { authCatalog, usersV2Routes } from "@trellis/contracts";
import type { Router } from "express";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/** Users of the modern API. Authorization (self / admin) is decided by auth, from `actor`. */
export function registerUsersV2(router: Router, mount: Mount): void {
  const r = usersV2Routes;

  mount(router, r.list, async ({ query, call }) => ({
    status: 200,
    body: await call(authCatalog.listUsers, { limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) }),
  }));
  mount(router, r.create, async ({ body, call }) => ({
    status: 201,
    body: await call(authCatalog.register, body),
  }));
  mount(router, r.batch, async ({ body, call }) => ({
    status: 200,
    body: await call(authCatalog.getUsersBatch, { ids: body.ids }),
  }));
  mount(router, r.byUsername, async ({ params, call }) => ({
    status: 200,
    body: await call(authCatalog.getUserByUsername, { username: params.username }),
  }));
  mount(router, r.get, async ({ params, call }) => ({
    status: 200,
    body: await call(authCatalog.getUser, { userId: params.id }),
  }));
  mount(router, r.promote, async ({ params, call }) => ({
    status: 200,
    body: await call(authCatalog.promote, { userId: params.id }),
  }));
  mount(router, r.delete, async ({ params, call }) => {
    await call(authCatalog.deleteUser, { userId: params.id });
    return { status: 204 };
  });
  mount(router, r.setPassword, async ({ params, body, req, call }) => {
    await call(authCatalog.setPassword, {
      userId: params.id,
      newPassword: body.new_password,
      client: clientInfo(req),
      ...(body.old_password ? { oldPassword: body.old_password } : {}),
    });
    return { status: 204 };
  });
  mount(router, r.logins, async ({ params, query, call }) => ({
    status: 200,
    body: await call(authCatalog.loginLog, { userId: params.id, limit: query.limit }),
  }));
  mount(router, r.setFace, async ({ params, body, call }) => {
    await call(authCatalog.setFaceEncoding, { userId: params.id, encoding: body.encoding });
    return { status: 204 };
  });
  mount(router, r.getFace, async ({ params, call }) => ({
    status: 200,
    body: await call(authCatalog.getFaceEncoding, { userId: params.id }),
  }));
}
