import { type HttpRoute, invalidArgument } from "@trellis/contracts";
import type { Request, Response, Router } from "express";
import type { z } from "zod";

type Out<S> = NonNullable<S> extends z.ZodType ? z.output<NonNullable<S>> : undefined;

export interface RouteInput<R extends HttpRoute> {
  params: Out<R["params"]>;
  query: Out<R["query"]>;
  body: Out<R["body"]>;
  req: Request;
  res: Response;
}

export interface HttpResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function parsePart(schema: z.ZodType | undefined, value: unknown, what: string): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalidArgument(result.error, what);
  return result.data;
}

/**
 * Registers a contract route: params, query and body are validated against the route's schemas
 * (a failure is a 400 with the field issues) before the handler sees them. The handler returns a
 * status and body, or `undefined` when it wrote a response itself (streams).
 */
export function mount<R extends HttpRoute>(
  router: Router,
  route: R,
  handler: (input: RouteInput<R>) => Promise<HttpResult | undefined>,
): void {
  router[route.method](route.path, async (req: Request, res: Response) => {
    const input = {
      params: parsePart(route.params, req.params, "path parameters"),
      query: parsePart(route.query, req.query, "query"),
      body: parsePart(route.body, req.body, "body"),
      req,
      res,
    } as RouteInput<R>;
    const result = await handler(input);
    if (!result || res.headersSent) return;
    for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
    res.status(result.status).json(result.body);
  });
}
