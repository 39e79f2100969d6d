import type { z } from "zod";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

/**
 * How a route authenticates its caller:
 * - `public`: nobody is required;
 * - `bearer`: `Authorization: Bearer <JWT access token | 32-hex v1 token>` (modern API);
 * - `v1`: the seed 002 way, a 32-hex `token` in the JSON body (POST) or query string (GET).
 */
export type RouteAuth = "public" | "bearer" | "v1";

export interface HttpResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
}

/**
 * One HTTP route of the gateway. The gateway validates params, query and body against these
 * schemas before forwarding anything, and the OpenAPI document is generated from the same objects.
 */
export interface HttpRoute<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
> {
  readonly method: HttpMethod;
  /** Express-style path, e.g. `/api/v2/services/:service/health`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tags: readonly string[];
  readonly auth: RouteAuth;
  /** Accept `application/x-www-form-urlencoded` as well as JSON (OAuth2 token endpoint). */
  readonly acceptsForm?: boolean;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly responses: Readonly<Record<number, HttpResponseSpec>>;
}

export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  r: HttpRoute<P, Q, B>,
): HttpRoute<P, Q, B> {
  return r;
}
