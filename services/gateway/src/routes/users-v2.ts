import type { NatsConnection } from "@nats-io/transport-node";
import { authCatalog, usersV2Routes } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { Router } from "express";
import { clientInfo } from "../http/client-info.ts";
import type { Mount } from "../http/mount.ts";

/** Users of the modern API. Authorization (self / admin) is decided by auth, from `actor`. */
export function registerUsersV2(router: Router, nc: NatsConnection, mount: Mount): void {
  const r = usersV2Routes;

  mount(router, r.list, async ({ principal: actor, query, requestId }) => ({
    status: 200,
    body: await request(
      nc,
      authCatalog.listUsers,
      { actor, limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) },
      { requestId },
    ),
  }));
  mount(router, r.create, async ({ principal: actor, body, requestId }) => ({
    status: 201,
    body: await request(nc, authCatalog.register, { ...body, actor }, { requestId }),
  }));
  mount(router, r.batch, async ({ principal: actor, body, requestId }) => ({
    status: 200,
    body: await request(nc, authCatalog.getUsersBatch, { actor, ids: body.ids }, { requestId }),
  }));
  mount(router, r.byUsername, async ({ principal: actor, params, requestId }) => ({
    status: 200,
    body: await request(nc, authCatalog.getUserByUsername, { actor, username: params.username }, { requestId }),
  }));
  mount(router, r.get, async ({ principal: actor, params, requestId }) => ({
    status: 200,
    body: await request(nc, authCatalog.getUser, { actor, userId: params.id }, { requestId }),
  }));
  mount(router, r.promote, async ({ principal: actor, params, requestId }) => ({
    status: 200,
    body: await request(nc, authCatalog.promote, { actor, userId: params.id }, { requestId }),
  }));
  mount(router, r.delete, async ({ principal: actor, params, requestId }) => {
    await request(nc, authCatalog.deleteUser, { actor, userId: params.id }, { requestId });
    return { status: 204 };
  });
  mount(router, r.setPassword, async ({ principal: actor, params, body, req, requestId }) => {
    await request(
      nc,
      authCatalog.setPassword,
      {
        actor,
        userId: params.id,
        newPassword: body.new_password,
        client: clientInfo(req),
        ...(body.old_password ? { oldPassword: body.old_password } : {}),
      },
      { requestId },
    );
    return { status: 204 };
  });
  mount(router, r.logins, async ({ principal: actor, params, query, requestId }) => ({
    status: 200,
    body: await request(nc, authCatalog.loginLog, { actor, userId: params.id, limit: query.limit }, { requestId }),
  }));
  mount(router, r.setFace, async ({ principal: actor, params, body, requestId }) => {
    await request(
      nc,
      authCatalog.setFaceEncoding,
      { actor, userId: params.id, encoding: body.encoding },
      { requestId },
    );
    return { status: 204 };
  });
  mount(router, r.getFace, async ({ principal: actor, params, requestId }) => ({
    status: 200,
    body: await request(nc, authCatalog.getFaceEncoding, { actor, userId: params.id }, { requestId }),
  }));
}
