import { z } from "zod";
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

/** What an event stream also reads: how a browser `EventSource` authenticates and resumes. */
const EVENT_STREAM_PARAMETERS: readonly JsonObject[] = [
  {
    name: "access_token",
    in: "query",
    required: false,
    schema: { type: "string" },
    description:
      "The bearer access token, for clients that cannot send `Authorization` (a browser `EventSource`). Prefer the header: URLs end up in browser history and proxy logs (the gateway's log leaves query strings out).",
  },
  {
    name: "lastEventId",
    in: "query",
    required: false,
    schema: { type: "string", maxLength: 256 },
    description: "Resume after this event id on a first connection (reconnects send the `Last-Event-ID` header).",
  },
  { name: "Last-Event-ID", in: "header", required: false, schema: { type: "string", maxLength: 256 } },
];

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
      parameters: [
        ...parameters(r.params, "path"),
        ...parameters(r.query, "query"),
        ...parameters(r.headers, "header"),
        ...(r.eventStream ? EVENT_STREAM_PARAMETERS : []),
      ],
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, spec]) => [
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
            ...(spec.contentType
              ? { content: { [spec.contentType]: { schema: spec.schema ? toSchema(spec.schema, "output") : BINARY } } }
              : spec.schema
                ? { content: { "application/json": { schema: toSchema(spec.schema, "output") } } }
                : {}),
          },
        ]),
      ),
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
  return { openapi: "3.1.0", info, paths };
}
