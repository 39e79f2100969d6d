import { type Principal, TrellisError, type UserPrincipal } from "@trellis/contracts";

/**
 * "Not yours" on `/api/v2` (the platform's one rule, docs/api.md "Errors"): a resource the caller may
 * not see answers `not_found`, exactly as one that does not exist, so ids cannot be probed;
 * `forbidden` only where the caller's kind or role lacks the permission whatever the id (a monitor
 * token on a user route, a non-admin on an admin route). `/api/v1` keeps seed 002's table, where
 * another user's monitor is `forbidden` (`requireReaderV1`).
 */
export const forbidden = (message = "not allowed") => new TrellisError("forbidden", message);

export const monitorNotFound = () => new TrellisError("not_found", "monitor not found");

export const isAdmin = (actor: Principal): boolean => actor.kind === "user" && actor.role === "admin";

/** Throws `forbidden` unless the actor is an admin user. */
export function requireAdmin(actor: Principal): UserPrincipal {
  if (actor.kind !== "user" || actor.role !== "admin") throw forbidden();
  return actor;
}

/** Throws `forbidden` unless the actor is a user (seed 002: "Only users and admins can use this method"). */
export function requireUser(actor: Principal): UserPrincipal {
  if (actor.kind !== "user") throw forbidden("only users and admins can use this method");
  return actor;
}

/**
 * Who may read a monitor: an admin, or the user who owns it. `ownerId` is null when the monitor
 * does not exist; a non-admin then gets `not_found` as for someone else's monitor, so ids cannot
 * be probed. A monitor token is `forbidden` (monitors read nothing). The caller decides what an
 * admin gets for a missing monitor.
 */
export function requireReader(actor: Principal, ownerId: string | null): UserPrincipal {
  const user = requireUser(actor);
  if (isAdmin(user)) return user;
  if (ownerId === null || ownerId !== user.userId) throw monitorNotFound();
  return user;
}

/** Seed 002's `monitors/get` (`/api/v1` only): as `requireReader`, but another user's or a missing monitor is `forbidden`. */
export function requireReaderV1(actor: Principal, ownerId: string | null): UserPrincipal {
  const user = requireUser(actor);
  if (isAdmin(user)) return user;
  if (ownerId === null || ownerId !== user.userId) throw forbidden();
  return user;
}

/**
 * Who may submit readings for a monitor: the monitor itself or an admin. A user is `forbidden`
 * (users never submit readings); a monitor token naming another monitor gets `not_found`, as for
 * one that does not exist (the gateway's `/api/v1` route answers seed 002's 403 for it).
 */
export function requireWriter(actor: Principal, monitorId: string): void {
  if (isAdmin(actor)) return;
  if (actor.kind === "monitor") {
    if (actor.monitorId === monitorId) return;
    throw monitorNotFound();
  }
  throw forbidden("only the monitor itself or an admin submits readings");
}
