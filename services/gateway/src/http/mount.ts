import { type HttpRoute, invalidArgument, type Principal, TrellisError } from "@trellis/contracts";
import express, { type Request, type RequestHandler, type Response, type Router } from "express";
import type { z } from "zod";
import type { Authenticator } from "../auth/authenticator.ts";

type Out<S> = NonNullable<S> extends z.ZodType ? z.output<NonNullable<S>> : undefined;

export interface RouteInput<R extends HttpRoute> {
  params: Out<R["params"]>;
  query: Out<R["query"]>;
  body: Out<R["body"]>;
  /** The caller; present for `bearer` and `v1` routes. */
  principal: R["auth"] extends "public" ? undefined : Principal;
  requestId: string;
  req: Request;
  res: Response;
}

export interface HttpResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Mount = <R extends HttpRoute>(
  router: Router,
  route: R,
  handler: (input: RouteInput<R>) => Promise<HttpResult | undefined>,
) => void;

function parsePart(schema: z.ZodType | undefined, value: unknown, what: string): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalidArgument(result.error, what);
  return result.data;
}

/**
 * Returns `mount`, which registers a contract route: the caller is authenticated as the route
 * says, then params, query and body are validated against its schemas (a failure is a 400 naming
 * each field) before the handler sees them. The handler returns a status and body, or `undefined`
 * when it wrote the response itself (streams).
 */
export function createMount(authenticator: Authenticator, bodyLimit: string): Mount {
  const form = express.urlencoded({ extended: false, limit: bodyLimit, parameterLimit: 20 });
  return (router, route, handler) => {
    const chain: RequestHandler[] = [];
    if (route.acceptsForm) chain.push(form);
    chain.push(async (req: Request, res: Response) => {
      const requestId = String(req.id);
      // Seed 002: "The HTTP Request must have the Content-Type header set to application/json".
      if (route.body && route.auth !== "bearer" && !route.acceptsForm && !req.is("application/json")) {
        throw new TrellisError("invalid_argument", "Content-Type must be application/json");
      }
      if (route.body && route.acceptsForm && !req.is(["application/json", "application/x-www-form-urlencoded"])) {
        throw new TrellisError("unsupported_media_type", "send application/x-www-form-urlencoded or application/json");
      }
      let principal: Principal | undefined;
      if (route.auth === "bearer") principal = await authenticator.bearer(req.get("authorization"), requestId);
      else if (route.auth === "v1") {
        const token = route.method === "get" ? (req.query as Record<string, unknown>).token : req.body?.token;
        if (token === undefined || token === "") throw new TrellisError("invalid_argument", "token is required");
        principal = await authenticator.v1(token, requestId);
      }
      const input = {
        params: parsePart(route.params, req.params, "path parameters"),
        query: parsePart(route.query, req.query, "query"),
        body: parsePart(route.body, req.body, "body"),
        principal,
        requestId,
        req,
        res,
      } as RouteInput<typeof route>;
      const result = await handler(input);
      if (!result || res.headersSent) return;
      for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
      if (result.body === undefined) res.status(result.status).end();
      else res.status(result.status).json(result.body);
    });
    router[route.method](route.path, ...chain);
  };
}
