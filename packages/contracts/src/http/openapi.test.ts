import { describe, expect, it } from "vitest";
import { httpRoutes } from "../index.ts";
import { buildOpenApiDocument } from "./openapi.ts";

// biome-ignore lint/suspicious/noExplicitAny: generated JSON Schema, asserted field by field
type Schema = Record<string, any>;
type Op = {
  parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
  security?: unknown[];
};
const doc = buildOpenApiDocument(httpRoutes, { title: "t", version: "1" }) as {
  paths: Record<string, Record<string, Op>>;
  components: { securitySchemes: Record<string, unknown> };
};
const op = (path: string, method: string): Op => {
  const found = doc.paths[path]?.[method];
  if (!found) throw new Error(`${method} ${path} is not documented`);
  return found;
};
const body = (o: Op) => o.requestBody?.content["application/json"]?.schema as Schema;

describe("the OpenAPI document states the rules the server applies", () => {
  it("usernames and new passwords as auth checks them", () => {
    const register = body(op("/api/v2/auth/register", "post"));
    expect(register.properties.username).toMatchObject({ minLength: 3, maxLength: 64, pattern: expect.any(String) });
    expect(register.properties.password).toMatchObject({ minLength: 8, maxLength: 128 });
    expect(body(op("/api/v2/users/{id}/password", "put")).properties.new_password).toMatchObject({ minLength: 8 });
  });

  it("v1 tokens and ids with the seed's shapes", () => {
    const owners = op("/api/v1/owners/get", "get").parameters;
    expect(owners.find((p) => p.name === "token")?.schema.pattern).toBe("^[0-9a-f]{32}$");
    const reset = body(op("/api/v1/monitors/reset", "post"));
    expect(reset.properties.monitor_id.pattern).toBe("^[0-9a-fA-F]{32}$");
  });

  it("tus headers as required as the server makes them", () => {
    const params = op("/api/v2/uploads", "post").parameters;
    expect(params.find((p) => p.name === "tus-resumable")).toMatchObject({
      required: true,
      schema: { const: "1.0.0" },
    });
    expect(params.find((p) => p.name === "upload-length")).toMatchObject({ required: true });
  });

  it("rules between fields, in JSON Schema", () => {
    expect(body(op("/api/v2/analyses", "post")).oneOf).toEqual([{ required: ["video_id"] }, { required: ["url"] }]);
    expect(body(op("/api/v2/monitors/{id}/commands", "post")).anyOf).toHaveLength(2);
    expect(body(op("/api/v2/monitors/{id}/readings", "post")).anyOf.length).toBeGreaterThan(5);
    expect(body(op("/api/v2/analyses/{id}", "patch")).anyOf).toEqual([
      { required: ["shared"] },
      { required: ["tracked_url"] },
    ]);
  });

  it("event streams as text/event-stream events, with their resume parameters bounded", () => {
    const live = op("/api/v2/live", "get");
    const event = live.responses["200"]?.content?.["text/event-stream"]?.schema;
    expect(event).toMatchObject({ type: "object", required: ["data"], properties: { data: { type: "string" } } });
    expect(live.parameters.find((p) => p.name === "lastEventId")?.schema.maxLength).toBe(256);
  });

  it("every status the gateway answers by itself, and the bearer scheme", () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(ops)) {
        expect(o.responses["431"], `${method} ${path}`).toBeDefined();
        if (o.requestBody) expect(o.responses["413"], `${method} ${path}`).toBeDefined();
      }
    }
    expect(op("/api/v2/auth/token", "post").responses["415"]).toBeDefined();
    expect(op("/api/v2/me", "get").security).toEqual([{ bearerAuth: [] }]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const gift = op("/api/v2/analyses/{id}/questions", "get").responses["200"]?.content ?? {};
    expect(Object.keys(gift)).toEqual(["application/json", "text/csv", "application/xml", "text/plain"]);
  });
});
