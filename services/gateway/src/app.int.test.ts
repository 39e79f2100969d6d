import { request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { authCatalog, catalogs, httpRoutes, openApiPath } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { Authenticator } from "./auth/authenticator.ts";
import { Revocations } from "./auth/revocations.ts";
import { SigningKeys } from "./auth/signing-keys.ts";

// A NATS server of its own: these tests need subjects that no service answers.
const stack = useFileStack();
let nc: NatsConnection;
let server: Server;
let mounted: readonly { method: string; path: string }[];
let base: string;
let revocations: Revocations;
const silent = pino({ level: "silent" });

beforeAll(async () => {
  nc = await connect({
    servers: stack.natsUrl,
    user: stack.natsUser,
    pass: stack.natsPassword,
  });
  revocations = new Revocations(nc, silent, 60_000);
  revocations.start();
  const authenticator = new Authenticator(nc, new SigningKeys(nc), revocations, {
    issuer: "t",
    audience: "t",
    v1CacheMs: 0,
  });
  const gateway = createApp({
    nc,
    authenticator,
    log: silent,
    version: "test",
    config: {
      CORS_ORIGINS: ["https://web.example"],
      BODY_LIMIT: "1kb",
      REQUEST_TIMEOUT_MS: 200,
      READINESS_TIMEOUT_MS: 200,
      TRUST_PROXY: 0,
      VALIDATE_RESPONSES: true,
    },
  });
  mounted = gateway.routes;
  server = gateway.app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  revocations.stop();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await nc.close();
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
const json = (res: Response): Promise<any> => res.json();

/** A request with any method (fetch refuses TRACE): status, headers and the body as text. */
function rawRequest(method: string, url: string): Promise<{ status: number; allow: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
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

const post = (path: string, body: string, type = "application/json") =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": type }, body });

describe("gateway HTTP edge", () => {
  it("a malformed JSON body is a 400 with the JSON error shape", async () => {
    const res = await post("/api/v2/auth/register", '{"broken": ');
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(await json(res)).toEqual({
      error: { code: "invalid_argument", message: "request body is not valid JSON", retryable: false },
    });
  });

  it("the compatibility API answers errors in its own envelope", async () => {
    const res = await post("/api/v1/login/user", "{oops");
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ success: false, cause: "request body is not valid JSON" });
  });

  it("a body over the limit is 413, not a crash", async () => {
    const res = await post("/api/v2/auth/register", JSON.stringify({ pad: "x".repeat(4_000) }));
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe("payload_too_large");
  });

  it("a path parameter outside the contract is a 400 naming the field", async () => {
    const res = await fetch(`${base}/api/v2/services/printer/health`);
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error.code).toBe("invalid_argument");
    expect(body.error.details.issues[0].path).toBe("service");
  });

  it("an unknown route is a 404 in the error shape", async () => {
    const res = await fetch(`${base}/api/v2/nothing-here`);
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("not_found");
  });

  it("no instance of a service → 503 with Retry-After, promptly (not a timeout)", async () => {
    const res = await fetch(`${base}/api/v2/services/analysis/health`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    const body = await json(res);
    expect(body.error).toMatchObject({ code: "unavailable", retryable: true, details: { service: "analysis" } });
  });

  it("a service that does not answer in time → 504", async () => {
    // A responder that swallows requests: it exists (so no 503) but never replies.
    const sub: Subscription = nc.subscribe(catalogs.media.health.subject, { callback: () => {} });
    await nc.flush();
    try {
      const res = await fetch(`${base}/api/v2/services/media/health`);
      expect(res.status).toBe(504);
      expect((await json(res)).error.code).toBe("deadline_exceeded");
    } finally {
      sub.unsubscribe();
    }
  });

  it("every route's service calls honour REQUEST_TIMEOUT_MS (here 200 ms), not only /readyz", async () => {
    const sub: Subscription = nc.subscribe(authCatalog.jwks.subject, { callback: () => {} });
    await nc.flush();
    try {
      const started = Date.now();
      const res = await fetch(`${base}/api/v2/auth/jwks`);
      const elapsed = Date.now() - started;
      expect(res.status).toBe(504);
      expect((await json(res)).error.code).toBe("deadline_exceeded");
      // The client library's default would be 5 s.
      expect(elapsed).toBeLessThan(2_000);
    } finally {
      sub.unsubscribe();
    }
  });

  it("mounts exactly the routes the OpenAPI document lists", async () => {
    const key = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${openApiPath(r.path)}`;
    expect(mounted.map(key).sort()).toEqual(httpRoutes.map(key).sort());
    const doc = await json(await fetch(`${base}/openapi.json`));
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(mounted.map(key).sort());
  });

  it("answers an undeclared method on every documented path with 405 and the document's methods in Allow", async () => {
    const doc = await json(await fetch(`${base}/openapi.json`));
    const paths = Object.entries(doc.paths as Record<string, Record<string, unknown>>);
    expect(paths.length).toBeGreaterThan(50);
    for (const [path, ops] of paths) {
      // A value no literal segment has, so the path resolves to this path item and no other.
      const url = `${base}${path.replace(/\{[^}]+\}/g, "p-1")}`;
      const declared = Object.keys(ops).map((m) => m.toUpperCase());
      const expected = new Set([...declared, "OPTIONS", ...(declared.includes("GET") ? ["HEAD"] : [])]);
      const trace = await rawRequest("TRACE", url);
      expect(trace.status, `TRACE ${path}`).toBe(405);
      expect(new Set(trace.allow?.split(", ")), `Allow of ${path}`).toEqual(expected);
      const body = JSON.parse(trace.body);
      if (path.startsWith("/api/v1/")) expect(body).toEqual({ success: false, cause: expect.any(String) });
      else expect((body.error as { code: string }).code).toBe("method_not_allowed");
      if (!declared.includes("OPTIONS")) {
        const options = await fetch(url, { method: "OPTIONS" });
        expect(options.status, `OPTIONS ${path}`).toBe(204);
        expect(new Set(options.headers.get("allow")?.split(", "))).toEqual(expected);
      }
    }
  });

  it("sends a concrete path to its own route, never to a templated one that also matches", async () => {
    // `/api/v2/monitors/bulk` is a path item of its own (POST): GET is not `getMonitor` with id "bulk".
    const res = await fetch(`${base}/api/v2/monitors/bulk`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST, OPTIONS");
    // Unknown paths stay 404.
    expect((await rawRequest("TRACE", `${base}/api/v2/nothing-here`)).status).toBe(404);
  });

  it("accepts a sane X-Request-Id, replaces an unsafe one", async () => {
    const kept = await fetch(`${base}/healthz`, { headers: { "x-request-id": "abc-123" } });
    expect(kept.headers.get("x-request-id")).toBe("abc-123");
    const replaced = await fetch(`${base}/healthz`, { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sends security headers and honours the CORS allow-list", async () => {
    const res = await fetch(`${base}/healthz`, { headers: { origin: "https://web.example" } });
    expect(await json(res)).toEqual({ status: "ok" });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-powered-by")).toBeNull();
    expect(res.headers.get("access-control-allow-origin")).toBe("https://web.example");
    const other = await fetch(`${base}/healthz`, { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(`${base}/api/v1/monitors/update`, {
      method: "OPTIONS",
      headers: {
        origin: "https://web.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("readyz is 503 and names every service when none answers", async () => {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    const report = await json(res);
    expect(report.status).toBe("unready");
    expect(report.nats).toBe(true);
    expect(report.unavailable.sort()).toEqual(["analysis", "auth", "gateway", "media", "telemetry"]);
    // Auth never answered revoked_since, so access tokens cannot be checked: not ready on that alone.
    expect(report.down).toContain("revocations");
  });

  it("serves a docs page that renders the document, from this origin", async () => {
    const page = await fetch(`${base}/docs/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("swagger-ui");
    const init = await fetch(`${base}/docs/swagger-initializer.js`);
    expect(await init.text()).toContain('"/openapi.json"');
    expect((await fetch(`${base}/docs/swagger-ui-bundle.js`)).status).toBe(200);
  });

  it("serves the OpenAPI 3.1 document generated from the contracts", async () => {
    const res = await fetch(`${base}/openapi.json`);
    const doc = await json(res);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/api/v2/services/{service}/health"].get.operationId).toBe("getServiceHealth");
    for (const path of ["/api/v1/login/user", "/api/v2/auth/token", "/api/v2/users/{id}", "/api/v1/monitors/get"]) {
      expect(Object.keys(doc.paths), path).toContain(path);
    }
  });
});
