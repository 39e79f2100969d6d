import type { z } from "zod";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete" | "head" | "options";

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
  /** Media type of the body when it is not JSON (a CSV export, a file); the body is then not validated. */
  readonly contentType?: string;
  /** Response headers that are part of the contract, by name, with what they carry (documented only). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Other media types the same status may carry instead of JSON (a download the client asked for
   * with `format=` or `Accept`): documented as text, not validated.
   */
  readonly alsoAs?: readonly string[];
}

/**
 * A request body of raw bytes (a file) rather than JSON: the gateway does not parse it but
 * streams it to the service as the service reads it. Documented as a binary body.
 */
export interface RawBodySpec {
  readonly description: string;
  /** Media types documented for the body, e.g. `image/*`; the service decides the type from the bytes. */
  readonly contentTypes: readonly string[];
  /** The parts when the body may also be `multipart/form-data` (documented; the route reads them). */
  readonly multipart?: z.ZodType;
}

export type HttpResponses = Readonly<Record<number, HttpResponseSpec>>;

/**
 * One HTTP route of the gateway. The gateway validates params, query and body against these
 * schemas before forwarding anything, checks what the handler answers against `responses`, and
 * the OpenAPI document is generated from the same objects.
 */
export interface HttpRoute<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  Rs extends HttpResponses = HttpResponses,
  H extends z.ZodType = z.ZodType,
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
  /** A raw byte body (an upload) instead of a JSON `body`. */
  readonly rawBody?: RawBodySpec;
  /**
   * A Server-Sent Events stream (`text/event-stream`): besides `Authorization`, the bearer token may
   * come as `?access_token=`, the only way a browser `EventSource` can send it (see the gateway's
   * `http/sse.ts` for the trade-off).
   */
  readonly eventStream?: boolean;
  /** Request headers the route reads, by lowercase name (validated like the rest, documented as `in: header`). */
  readonly headers?: H;
  readonly responses: Rs;
}

export function route<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  const Rs extends HttpResponses,
  H extends z.ZodType,
>(r: HttpRoute<P, Q, B, Rs, H>): HttpRoute<P, Q, B, Rs, H> {
  return r;
}

/** The JSON body a route may answer with this status (`undefined` for statuses without a schema). */
export type ResponseBodyOf<Rs extends HttpResponses, S extends keyof Rs> = Rs[S] extends {
  schema: infer Sc extends z.ZodType;
}
  ? z.input<Sc>
  : undefined;

/** What a handler may answer: a status the route declares, with that status's body. */
export type RouteResultOf<Rs extends HttpResponses> = {
  [S in keyof Rs & number]: { status: S; body?: ResponseBodyOf<Rs, S>; headers?: Record<string, string> };
}[keyof Rs & number];
