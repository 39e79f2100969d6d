import { z } from "zod";
import { ErrorResponse, V1Failure } from "./errors-http.ts";
import type { HttpRoute } from "./route.ts";

type JsonObject = Record<string, unknown>;

const toSchema = (schema: z.ZodType, io: "input" | "output"): JsonObject => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" });
  return rest;
};

/** Any bytes (OpenAPI 3.1 with 3.0's `format: binary`, which Swagger UI turns into a file picker). */
const BINARY = { type: "string", format: "binary", contentMediaType: "application/octet-stream" } as const;

/** `/a/:id/b` → `/a/{id}/b` */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

function parameters(schema: z.ZodType | undefined, where: "path" | "query" | "header"): JsonObject[] {
  if (!schema) return [];
  const json = toSchema(schema, "input") as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === "path" || (json.required ?? []).includes(name),
    schema: s,
    ...(typeof s.description === "string" ? { description: s.description } : {}),
  }));
}

/**
 * What every event stream also reads: how a browser `EventSource` authenticates and resumes. The
 * gateway validates these like a route's own query and headers (`mount`).
 */
export const EventStreamQuery = z.object({
  access_token: z
    .string()
    .max(4096)
    .optional()
    .describe(
      "The bearer access token, for clients that cannot send `Authorization` (a browser `EventSource`). Prefer the header: URLs end up in browser history and proxy logs (the gateway's log leaves query strings out).",
    ),
  lastEventId: z
    .string()
    .max(256)
    .optional()
    .describe("Resume after this event id on a first connection (reconnects send the `Last-Event-ID` header)."),
});
export const EventStreamHeaders = z.object({
  "last-event-id": z.string().max(256).optional().describe("Resume after this event id (what `EventSource` sends)."),
});

/** One Server-Sent Event as a client reads it; `data` is JSON, described by `data` when given. */
function eventSchema(data: z.ZodType | undefined, description: string): JsonObject {
  return {
    type: "object",
    description,
    properties: {
      event: { type: "string", description: "The kind of event." },
      data: {
        type: "string",
        contentMediaType: "application/json",
        ...(data ? { contentSchema: toSchema(data, "output") } : {}),
      },
      id: { type: "string", description: "The event's id: send it back as `Last-Event-ID` to resume after it." },
      retry: { type: "integer", minimum: 0 },
    },
    required: ["data"],
  };
}

const error = (description: string): JsonObject => ({
  description,
  content: { "application/json": { schema: toSchema(ErrorResponse, "output") } },
});
const v1Error = (description: string): JsonObject => ({
  description,
  content: { "application/json": { schema: toSchema(V1Failure, "output") } },
});

/**
 * Statuses the gateway itself answers for a route, whatever the handler does, derived from the
 * route's shape so no route can forget one: a request line and headers over Node's 16 KiB (431),
 * a body over the limit (413), a body of a type the route does not take (415).
 */
function gatewayStatuses(r: HttpRoute): Record<string, JsonObject> {
  const v1 = r.path.startsWith("/api/v1/");
  const e = v1 ? v1Error : error;
  const out: Record<string, JsonObject> = {
    // Node's HTTP parser answers this one itself, with no body.
    431: { description: "The request line and headers are larger than 16 KiB together (a very long URL or header)." },
  };
  if (r.body || r.rawBody) out[413] = e("The request body is larger than the gateway accepts.");
  if (r.acceptsForm) out[415] = e("The body is neither `application/x-www-form-urlencoded` nor `application/json`.");
  return out;
}

/** Builds an OpenAPI 3.1 document from route objects: the contract is the only source. */
export function buildOpenApiDocument(
  routes: readonly HttpRoute[],
  info: { title: string; version: string; description?: string },
): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const r of routes) {
    const op: JsonObject = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [...r.tags],
      ...(r.auth === "bearer" ? { security: [{ bearerAuth: [] }] } : {}),
      parameters: [
        ...parameters(r.params, "path"),
        ...parameters(r.query, "query"),
        ...parameters(r.headers, "header"),
        ...(r.eventStream
          ? [...parameters(EventStreamQuery, "query"), ...parameters(EventStreamHeaders, "header")]
          : []),
      ],
      responses: Object.fromEntries([
        ...Object.entries(gatewayStatuses(r)),
        ...Object.entries(r.responses).map(([status, spec]) => [
          status,
          {
            description: spec.description,
            ...(spec.headers
              ? {
                  headers: Object.fromEntries(
                    Object.entries(spec.headers).map(([name, description]) => [
                      name,
                      { description, schema: { type: "string" } },
                    ]),
                  ),
                }
              : {}),
            ...(spec.contentType === "text/event-stream"
              ? { content: { [spec.contentType]: { schema: eventSchema(spec.schema, spec.description) } } }
              : spec.contentType
                ? {
                    content: { [spec.contentType]: { schema: spec.schema ? toSchema(spec.schema, "output") : BINARY } },
                  }
                : spec.schema
                  ? {
                      content: {
                        "application/json": { schema: toSchema(spec.schema, "output") },
                        ...Object.fromEntries((spec.alsoAs ?? []).map((t) => [t, { schema: { type: "string" } }])),
                      },
                    }
                  : {}),
          },
        ]),
      ]),
    };
    if (r.body) {
      op.requestBody = { required: true, content: { "application/json": { schema: toSchema(r.body, "input") } } };
    }
    if (r.rawBody) {
      op.requestBody = {
        required: true,
        description: r.rawBody.description,
        content: {
          ...Object.fromEntries(r.rawBody.contentTypes.map((t) => [t, { schema: BINARY }])),
          ...(r.rawBody.multipart ? { "multipart/form-data": { schema: toSchema(r.rawBody.multipart, "input") } } : {}),
        },
      };
    }
    const p = openApiPath(r.path);
    paths[p] ??= {};
    paths[p][r.method] = op;
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description:
            "A JWT access token from `POST /api/v2/auth/token`, or a 32-hex v1 token (`/api/v1/login/*`; monitors have only those).",
        },
      },
    },
  };
}
