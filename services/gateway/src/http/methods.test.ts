import { request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { buildOpenApiDocument, httpRoutes, route } from "@trellis/contracts";
import express, { Router } from "express";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Authenticator } from "../auth/authenticator.ts";
import { errorHandler } from "./errors.ts";
import { createRouteTable, methodGuard } from "./methods.ts";
import { createMount } from "./mount.ts";

const base = { tags: ["test"], auth: "public", summary: "t" } as const;
const getThing = route({
  ...base,
  method: "get",
  path: "/things/:id",
  operationId: "getThing",
  params: z.object({ id: z.string() }),
  responses: { 200: { description: "The thing.", schema: z.object({ id: z.string() }) } },
});
const deleteThing = route({
  ...base,
  method: "delete",
  path: "/things/:id",
  operationId: "deleteThing",
  params: z.object({ id: z.string() }),
  responses: { 204: { description: "Gone." } },
});
const bulk = route({
  ...base,
  method: "post",
  path: "/things/bulk",
  operationId: "bulkThings",
  responses: { 200: { description: "Done.", schema: z.object({ bulk: z.literal(true) }) } },
});
const legacy = route({
  ...base,
  method: "post",
  path: "/api/v1/things/get",
  operationId: "v1Things",
  responses: { 200: { description: "Done.", schema: z.object({ ok: z.boolean() }) } },
});

let server: Server;
let url: string;

beforeAll(async () => {
  const { mount, table } = createMount({
    nc: {} as NatsConnection,
    authenticator: {} as Authenticator,
    bodyLimit: "1kb",
    requestTimeoutMs: 100,
    validateResponses: true,
  });
  const app = express();
  const log = pino({ level: "silent" });
  app.use((req, _res, next) => {
    Object.assign(req, { id: "t", log });
    next();
  });
  app.use(methodGuard(table));
  // The templated route is registered first: the guard, not the order, decides.
  const router = Router();
  mount(router, getThing, async ({ params }) => ({ status: 200, body: { id: params.id } }));
  mount(router, deleteThing, async () => ({ status: 204 }));
  const late = Router();
  mount(late, bulk, async () => ({ status: 200, body: { bulk: true } }));
  mount(late, legacy, async () => ({ status: 200, body: { ok: true } }));
  app.use(router, late);
  app.use(errorHandler);
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise((r) => server.close(r)));

function send(method: string, path: string): Promise<{ status: number; allow: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("405 and Allow from the route table", () => {
  it("answers a method the path does not declare with 405, Allow and the JSON error", async () => {
    for (const method of ["TRACE", "PUT", "POST", "PATCH"]) {
      const res = await send(method, "/things/abc");
      expect(res.status, method).toBe(405);
      expect(res.allow).toBe("GET, HEAD, DELETE, OPTIONS");
      expect(JSON.parse(res.body).error).toMatchObject({ code: "method_not_allowed", retryable: false });
    }
  });

  it("answers OPTIONS with 204 and the same Allow", async () => {
    const res = await send("OPTIONS", "/things/abc");
    expect(res.status).toBe(204);
    expect(res.allow).toBe("GET, HEAD, DELETE, OPTIONS");
    expect((await send("OPTIONS", "/things/bulk")).allow).toBe("POST, OPTIONS");
  });

  it("serves declared methods, HEAD where GET is", async () => {
    expect(JSON.parse((await send("GET", "/things/abc")).body)).toEqual({ id: "abc" });
    expect((await send("HEAD", "/things/abc")).status).toBe(200);
    expect((await send("DELETE", "/things/abc")).status).toBe(204);
    // Express matching: case-insensitive, an optional trailing slash.
    expect((await send("TRACE", "/Things/abc/")).status).toBe(405);
  });

  it("resolves a concrete path before a templated one, whatever the order of registration", async () => {
    const get = await send("GET", "/things/bulk");
    expect(get.status).toBe(405);
    expect(get.allow).toBe("POST, OPTIONS");
    expect(JSON.parse((await send("POST", "/things/bulk")).body)).toEqual({ bulk: true });
  });

  it("answers /api/v1 paths in the seed's envelope, and leaves unknown paths to the 404", async () => {
    const res = await send("GET", "/api/v1/things/get");
    expect(res.status).toBe(405);
    expect(res.allow).toBe("POST, OPTIONS");
    expect(JSON.parse(res.body)).toEqual({ success: false, cause: expect.stringContaining("GET") });
    expect((await send("TRACE", "/nothing")).status).toBe(404);
  });
});

describe("the contract's route table", () => {
  it("resolves every documented path to exactly the methods the OpenAPI document lists for it", () => {
    const table = createRouteTable();
    for (const r of httpRoutes) table.add(r);
    const doc = buildOpenApiDocument(httpRoutes, { title: "t", version: "1" }) as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      const item = table.resolve(path.replace(/\{[^}]+\}/g, "p-1"));
      expect(item, path).toBeDefined();
      expect([...(item?.routes.keys() ?? [])].sort(), path).toEqual(Object.keys(ops).sort());
    }
  });
});
