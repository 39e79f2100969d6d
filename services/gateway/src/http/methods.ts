import { type HttpMethod, type HttpRoute, TrellisError } from "@trellis/contracts";
import type { RequestHandler, Response } from "express";
import { match } from "path-to-regexp";

/**
 * The route table seen as OpenAPI path items: one entry per path, with the route of each method.
 * Every contract route `mount` registers is added here, so the answers below derive from the same
 * table as the OpenAPI document and cover new routes without being told.
 */
export interface RouteTable {
  add(route: Pick<HttpRoute, "method" | "path">): void;
  /** The path item serving a request path, the way OpenAPI resolves it (concrete before templated). */
  resolve(path: string): PathItem | undefined;
}

export interface PathItem {
  readonly path: string;
  /** The route of each declared method. */
  readonly routes: ReadonlyMap<HttpMethod, Pick<HttpRoute, "method" | "path">>;
  /** The `Allow` header: the declared methods, with HEAD where GET is and OPTIONS (answered here). */
  readonly allow: string;
}

interface Entry {
  item: { path: string; routes: Map<HttpMethod, Pick<HttpRoute, "method" | "path">>; allow: string };
  matches: (path: string) => boolean;
  /** Per segment, whether it is literal: compared left to right, a literal segment wins (OpenAPI). */
  literal: boolean[];
}

const ORDER: readonly HttpMethod[] = ["get", "head", "post", "put", "patch", "delete", "options"];

function allowOf(methods: Iterable<HttpMethod>): string {
  const set = new Set(methods);
  if (set.has("get")) set.add("head");
  set.add("options");
  return ORDER.filter((m) => set.has(m))
    .map((m) => m.toUpperCase())
    .join(", ");
}

/** Whether `a` is more specific than `b`: at the first segment where they differ, `a`'s is literal. */
function moreSpecific(a: boolean[], b: boolean[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] === true;
  }
  return false;
}

export function createRouteTable(): RouteTable {
  const byPath = new Map<string, Entry>();
  return {
    add(route) {
      let entry = byPath.get(route.path);
      if (!entry) {
        // The options Express's router uses: case-insensitive, an optional trailing slash.
        const matcher = match(route.path, { sensitive: false, end: true, trailing: true });
        entry = {
          item: { path: route.path, routes: new Map(), allow: "" },
          matches: (p) => {
            try {
              return matcher(p) !== false;
            } catch {
              return false; // a malformed %-escape: no route matches it (Express answers 400 later)
            }
          },
          literal: route.path
            .split("/")
            .filter(Boolean)
            .map((s) => !s.startsWith(":")),
        };
        byPath.set(route.path, entry);
      }
      entry.item.routes.set(route.method, route);
      entry.item.allow = allowOf(entry.item.routes.keys());
    },
    resolve(path) {
      let best: Entry | undefined;
      for (const entry of byPath.values()) {
        if (!entry.matches(path)) continue;
        if (!best || moreSpecific(entry.literal, best.literal)) best = entry;
      }
      return best?.item;
    },
  };
}

/** The route a request was resolved to by `methodGuard`, for `mount` to dispatch to it alone. */
export const resolvedRoute = (res: Response): Pick<HttpRoute, "method" | "path"> | undefined =>
  res.locals.contractRoute as Pick<HttpRoute, "method" | "path"> | undefined;

/**
 * Answers for the methods of every path in the route table, before any route runs: a method the
 * path does not declare is a 405 with `Allow` (RFC 9110 §15.5.6), OPTIONS is a 204 with `Allow`
 * unless the path declares its own OPTIONS (tus), and HEAD goes where GET does. A declared method
 * goes on to the one route that OpenAPI resolves the path to: `/api/v2/monitors/bulk` is that path
 * item, not `/api/v2/monitors/{id}` with id "bulk". Paths outside the table go on untouched.
 */
export function methodGuard(table: RouteTable): RequestHandler {
  return (req, res, next) => {
    const item = table.resolve(req.path);
    if (!item) return next();
    const method = req.method.toLowerCase() as HttpMethod;
    const route = item.routes.get(method) ?? (method === "head" ? item.routes.get("get") : undefined);
    if (method === "options" || !route) res.setHeader("Allow", item.allow);
    if (route) {
      res.locals.contractRoute = route;
      return next();
    }
    if (method === "options") {
      res.status(204).end();
      return;
    }
    next(
      new TrellisError("method_not_allowed", `${req.method} is not allowed on ${item.path}; allowed: ${item.allow}`),
    );
  };
}
