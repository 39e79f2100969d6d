import { type Principal, TrellisError, type UserPrincipal } from "@trellis/contracts";

export const forbidden = (message = "not allowed") => new TrellisError("forbidden", message);

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
 * does not exist; a non-admin then gets `forbidden` as for someone else's monitor, so ids cannot be
 * probed. The caller decides what an admin gets for a missing monitor.
 */
export function requireReader(actor: Principal, ownerId: string | null): UserPrincipal {
  const user = requireUser(actor);
  if (isAdmin(user)) return user;
  if (ownerId === null || ownerId !== user.userId) throw forbidden();
  return user;
}

/** Who may submit readings for a monitor: the monitor itself or an admin. */
export function requireWriter(actor: Principal, monitorId: string): void {
  if (isAdmin(actor)) return;
  if (actor.kind === "monitor" && actor.monitorId === monitorId) return;
  throw forbidden("the token does not match the monitor_id");
}
