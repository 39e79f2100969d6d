/**
 * EventSource authentication end to end: a real auth service issues the token, a real
 * `Authenticator` verifies it, and an `eventStream` route mounted by the gateway's `mount` accepts
 * it from `?access_token=` (what a browser `EventSource` can send), while other routes do not.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { route } from "@trellis/contracts";
import { poll } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import express, { Router } from "express";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, loginBoth, type Platform, startPlatform } from "../../../../tests/support/platform.ts";
import { Authenticator } from "../auth/authenticator.ts";
import { Revocations } from "../auth/revocations.ts";
import { SigningKeys } from "../auth/signing-keys.ts";
import { errorHandler } from "./errors.ts";
import { createMount } from "./mount.ts";
import { openSse } from "./sse.ts";

const stack = useFileStack();
let platform: Platform;
let nc: NatsConnection;
let revocations: Revocations;
let server: Server;
let base: string;
let token: string;
const silent = pino({ level: "silent" });

const whoResponses = { 200: { description: "The stream.", contentType: "text/event-stream" } } as const;
const liveWho = route({
  method: "get",
  path: "/test/who/events",
  operationId: "whoEvents",
  summary: "Who is listening, as one event.",
  tags: ["test"],
  auth: "bearer",
  eventStream: true,
  responses: whoResponses,
});
const plainWho = route({ ...liveWho, path: "/test/who", operationId: "who", eventStream: false });

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth"] });
  token = (await loginBoth(platform.base, ADMIN.username, ADMIN.password)).bearer;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  revocations = new Revocations(nc, silent, 60_000);
  revocations.start();
  const authenticator = new Authenticator(nc, new SigningKeys(nc), revocations, {
    issuer: "trellis",
    audience: "trellis",
    v1CacheMs: 0,
  });
  const { mount } = createMount({
    nc,
    authenticator,
    bodyLimit: "1kb",
    requestTimeoutMs: 2_000,
    validateResponses: true,
  });
  const router = Router();
  for (const r of [liveWho, plainWho]) {
    mount(router, r, async ({ req, res, principal }) => {
      const stream = openSse(req, res);
      stream.close({ event: "who", data: principal.kind === "user" ? principal.username : principal.monitorId });
      return undefined;
    });
  }
  const app = express();
  app.use((req, _res, next) => {
    Object.assign(req, { id: "t", log: silent });
    next();
  });
  app.use(router);
  app.use(errorHandler);
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  revocations?.stop();
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await nc?.close();
  await platform?.stop();
});

describe("?access_token= on event-stream routes", () => {
  it("an EventSource-style request (token in the query) is authenticated", async () => {
    const { value } = await poll(
      () => fetch(`${base}/test/who/events?access_token=${encodeURIComponent(token)}`),
      (r) => r.status === 200,
      { timeoutMs: 10_000 },
    );
    expect(value.status).toBe(200);
    expect(value.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(await value.text()).toBe(`event: who\ndata: ${ADMIN.username}\n\n`);
  });

  it("the header still works, and wins over the query", async () => {
    const res = await fetch(`${base}/test/who/events?access_token=garbage`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    await res.text();
  });

  it("no token, or a bad one, is a 401", async () => {
    expect((await fetch(`${base}/test/who/events`)).status).toBe(401);
    expect((await fetch(`${base}/test/who/events?access_token=not-a-token`)).status).toBe(401);
  });

  it("routes that are not event streams ignore ?access_token=", async () => {
    expect((await fetch(`${base}/test/who?access_token=${encodeURIComponent(token)}`)).status).toBe(401);
    const ok = await fetch(`${base}/test/who`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    await ok.text();
  });
});
