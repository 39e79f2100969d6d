import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { route } from "@trellis/contracts";
import express, { Router } from "express";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { Authenticator } from "../auth/authenticator.ts";
import { errorHandler } from "./errors.ts";
import { checkRouteResult, createMount } from "./mount.ts";

const thing = route({
  method: "get",
  path: "/things/:id",
  operationId: "getThing",
  summary: "A thing.",
  tags: ["test"],
  auth: "public",
  params: z.object({ id: z.string() }),
  responses: {
    200: { description: "The thing.", schema: z.object({ id: z.string(), size: z.number().int() }) },
    204: { description: "Nothing." },
  },
});

/** A mount for routes that call no service and authenticate nobody. */
const offlineMount = () =>
  createMount({
    nc: {} as NatsConnection,
    authenticator: {} as Authenticator,
    bodyLimit: "1kb",
    requestTimeoutMs: 100,
    validateResponses: true,
  });

/** An app with one route whose handler answers `answer` (no NATS or authentication is used). */
async function serveOne(answer: (id: string) => { status: number; body?: unknown }) {
  const { mount, mounted } = offlineMount();
  const router = Router();
  // The answers here are deliberately unchecked at compile time: this is the run-time net.
  mount(router, thing, async ({ params }) => answer(params.id) as never);
  const app = express();
  const log = pino({ level: "silent" });
  app.use((req, _res, next) => {
    Object.assign(req, { id: "t", log });
    next();
  });
  app.use(router);
  app.use(errorHandler);
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, mounted, close: () => new Promise((r) => server.close(r)) };
}

describe("handler replies are checked against the route's declared responses", () => {
  it("a body off the declared schema is a 500, never sent to the client", async () => {
    const app = await serveOne((id) => ({ status: 200, body: { id, size: "big" } }));
    try {
      const res = await fetch(`${app.base}/things/a`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: "internal", message: "internal error", retryable: false } });
      expect(app.mounted).toEqual([thing]);
    } finally {
      await app.close();
    }
  });

  it("an undeclared status is a 500; declared answers pass", async () => {
    const app = await serveOne((id) =>
      id === "new"
        ? { status: 201, body: { id, size: 1 } }
        : id === "none"
          ? { status: 204 }
          : { status: 200, body: { id, size: 2 } },
    );
    try {
      expect((await fetch(`${app.base}/things/new`)).status).toBe(500);
      expect((await fetch(`${app.base}/things/none`)).status).toBe(204);
      const ok = await fetch(`${app.base}/things/x`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ id: "x", size: 2 });
    } finally {
      await app.close();
    }
  });

  it("names the offending field", () => {
    expect(checkRouteResult(thing, 200, { id: "a", size: 1.5 })).toMatch(/^size: /);
    expect(checkRouteResult(thing, 404, undefined)).toMatch(/status 404 is not declared/);
    expect(checkRouteResult(thing, 204, { id: "a" })).toMatch(/declares no body/);
    expect(checkRouteResult(thing, 200, { id: "a", size: 1 })).toBeUndefined();
  });

  it("rejects off-contract answers at compile time too", () => {
    const { mount } = offlineMount();
    const router = Router();
    // @ts-expect-error 201 is not a declared status
    mount(router, thing, async () => ({ status: 201, body: { id: "a", size: 1 } }));
    // @ts-expect-error size must be a number
    mount(router, thing, async () => ({ status: 200, body: { id: "a", size: "1" } }));
    mount(router, thing, async () => ({ status: 200, body: { id: "a", size: 1 } }));
    expect(router.stack).toHaveLength(3);
  });
});
