import type { NatsConnection } from "@nats-io/transport-node";
import {
  type Endpoint,
  EventStreamHeaders,
  EventStreamQuery,
  type HttpResponses,
  type HttpRoute,
  invalidArgument,
  type MetaOf,
  type Principal,
  type ReplyOf,
  type RequestOf,
  type RouteResultOf,
  type StreamEndpoint,
  TrellisError,
  type UploadEndpoint,
} from "@trellis/contracts";
import { type ByteSource, type IncomingStream, request, requestStream, requestUpload } from "@trellis/runtime";
import express, { type Request, type RequestHandler, type Response, type Router } from "express";
import type { z } from "zod";
import type { Authenticator } from "../auth/authenticator.ts";
import { createRouteTable, type RouteTable, resolvedRoute } from "./methods.ts";
import { bearerFromRequest } from "./sse.ts";
import { refuseUnacceptedForm } from "./upload.ts";

type Out<S> = NonNullable<S> extends z.ZodType ? z.output<NonNullable<S>> : undefined;

/** A payload without `actor` when the endpoint takes one: `call` fills it in from the caller. */
export type CallPayload<E extends Endpoint | StreamEndpoint> =
  RequestOf<E> extends { actor: infer A } ? Omit<RequestOf<E>, "actor"> & { actor?: A } : RequestOf<E>;

/**
 * How routes call services: one helper that carries the request id, the authenticated caller (as
 * the endpoint's `actor`) and the gateway's `REQUEST_TIMEOUT_MS`, so no route can forget one.
 */
export interface Caller {
  <E extends Endpoint>(endpoint: E, payload: CallPayload<E>): Promise<ReplyOf<E>>;
  /** A stream endpoint: resolves at the start of the stream (refusals reject here). */
  stream<E extends StreamEndpoint>(endpoint: E, payload: CallPayload<E>): Promise<IncomingStream<MetaOf<E>>>;
  /**
   * An upload endpoint: `body` (e.g. the HTTP request itself, read only as the service takes it)
   * goes to the service at its pace; resolves with its reply.
   */
  upload<E extends UploadEndpoint>(endpoint: E, payload: CallPayload<E>, body: ByteSource): Promise<ReplyOf<E>>;
}

export interface RouteInput<R extends HttpRoute> {
  params: Out<R["params"]>;
  query: Out<R["query"]>;
  body: Out<R["body"]>;
  headers: Out<R["headers"]>;
  /** The caller; present for `bearer` and `v1` routes. */
  principal: R["auth"] extends "public" ? undefined : Principal;
  requestId: string;
  call: Caller;
  req: Request;
  res: Response;
}

/** A status the route declares and its body; `undefined` when the handler wrote the response itself (streams). */
export type RouteResult<R extends HttpRoute> = RouteResultOf<R["responses"]>;

/**
 * Registers a route. `Result` is checked against the route's declared responses at compile time
 * (a status the route does not declare, or a body off its schema, does not type-check); `const`
 * keeps the handler's status literals from widening to `number` during inference.
 */
export type Mount = <R extends HttpRoute, const Result extends RouteResult<R> | undefined>(
  router: Router,
  route: R,
  handler: (input: RouteInput<NoInfer<R>>) => Promise<Result>,
) => void;

export interface MountOptions {
  nc: NatsConnection;
  authenticator: Authenticator;
  bodyLimit: string;
  requestTimeoutMs: number;
  /** Check every handler's answer against the route's declared responses (a violation is a 500). */
  validateResponses: boolean;
}

/** The mount function, and the routes it has registered (the OpenAPI document must list exactly these). */
export interface Mounter {
  mount: Mount;
  readonly mounted: readonly HttpRoute[];
  /** The same routes as path items: `methodGuard` answers 405, OPTIONS and `Allow` from it. */
  readonly table: RouteTable;
}

function parsePart(schema: z.ZodType | undefined, value: unknown, what: string): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalidArgument(result.error, what);
  return result.data;
}

const takesActor = (e: Endpoint | StreamEndpoint | UploadEndpoint): boolean =>
  (e.request as { shape?: Record<string, unknown> }).shape?.actor !== undefined;

/**
 * Checks a handler's answer against the route: the status must be declared, and a JSON body must
 * match that status's schema. A mismatch is a bug in the gateway or a service, reported as such.
 */
export function checkRouteResult(route: HttpRoute, status: number, body: unknown): string | undefined {
  const spec = (route.responses as HttpResponses)[status];
  if (!spec) return `status ${status} is not declared for ${route.method.toUpperCase()} ${route.path}`;
  if (body === undefined || spec.contentType) return undefined;
  if (!spec.schema) return `status ${status} of ${route.method.toUpperCase()} ${route.path} declares no body`;
  const parsed = spec.schema.safeParse(body);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
}

/**
 * Returns `mount`, which registers a contract route: the caller is authenticated as the route
 * says, then params, query and body are validated against its schemas (a failure is a 400 naming
 * each field) before the handler sees them, and the handler's answer is checked against the
 * route's responses. The handler returns a status and body, or `undefined` when it wrote the
 * response itself (streams).
 */
export function createMount(options: MountOptions): Mounter {
  const { nc, authenticator, requestTimeoutMs } = options;
  const form = express.urlencoded({ extended: false, limit: options.bodyLimit, parameterLimit: 20 });
  const mounted: HttpRoute[] = [];
  const table = createRouteTable();

  const callerFor = (requestId: string, principal: Principal | undefined, safe: boolean): Caller => {
    const withActor = <E extends Endpoint | StreamEndpoint>(endpoint: E, payload: CallPayload<E>): RequestOf<E> =>
      (principal && takesActor(endpoint) && (payload as { actor?: unknown }).actor === undefined
        ? { ...(payload as object), actor: principal }
        : payload) as RequestOf<E>;
    // A GET or HEAD has no effect to repeat: a request lost with a NATS node is asked again.
    const call = (<E extends Endpoint>(endpoint: E, payload: CallPayload<E>) =>
      request(nc, endpoint, withActor(endpoint, payload), {
        requestId,
        timeoutMs: requestTimeoutMs,
        idempotent: safe,
      })) as Caller;
    call.stream = (endpoint, payload) =>
      requestStream(nc, endpoint, withActor(endpoint, payload), {
        requestId,
        timeoutMs: requestTimeoutMs,
        idempotent: safe,
      });
    call.upload = (endpoint, payload, body) =>
      requestUpload(nc, endpoint, withActor(endpoint, payload), body, { requestId, timeoutMs: requestTimeoutMs });
    return call;
  };

  const mount: Mount = (router, route, handler) => {
    mounted.push(route);
    table.add(route);
    const chain: RequestHandler[] = [
      // The path was resolved to another route of the table (`methodGuard`): `/monitors/bulk` is
      // not `/monitors/:id` with id "bulk", whatever order the routers were built in.
      (_req, res, next) => {
        const resolved = resolvedRoute(res);
        next(resolved && resolved !== route ? "route" : undefined);
      },
    ];
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
      await refuseUnacceptedForm(route, req, res);
      let principal: Principal | undefined;
      if (route.auth === "bearer") {
        const credentials = route.eventStream ? bearerFromRequest(req) : req.get("authorization");
        principal = await authenticator.bearer(credentials, requestId);
      } else if (route.auth === "v1") {
        const token = route.method === "get" ? (req.query as Record<string, unknown>).token : req.body?.token;
        if (token === undefined || token === "") throw new TrellisError("invalid_argument", "token is required");
        principal = await authenticator.v1(token, requestId);
      }
      if (route.eventStream) {
        parsePart(EventStreamQuery, req.query, "query");
        parsePart(EventStreamHeaders, req.headers, "headers");
      }
      const input = {
        params: parsePart(route.params, req.params, "path parameters"),
        query: parsePart(route.query, req.query, "query"),
        body: parsePart(route.body, req.body, "body"),
        headers: parsePart(route.headers, req.headers, "headers"),
        principal,
        requestId,
        call: callerFor(requestId, principal, route.method === "get" || route.method === "head"),
        req,
        res,
      } as RouteInput<typeof route>;
      const result = (await handler(input)) as { status: number; body?: unknown; headers?: Record<string, string> };
      if (!result || res.headersSent) return;
      if (options.validateResponses) {
        const violation = checkRouteResult(route, result.status, result.body);
        if (violation) {
          req.log.error({ violation, status: result.status }, "reply violates the route's declared responses");
          throw new TrellisError("internal", "internal error");
        }
      }
      for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
      if (result.body === undefined) res.status(result.status).end();
      else res.status(result.status).json(result.body);
    });
    router[route.method](route.path, ...chain);
  };
  return { mount, mounted, table };
}
