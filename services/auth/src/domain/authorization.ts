import { type Principal, TrellisError, type UserPrincipal } from "@trellis/contracts";

const forbidden = () => new TrellisError("forbidden", "not allowed");

export const isAdmin = (actor: Principal): boolean => actor.kind === "user" && actor.role === "admin";

/** Whether the actor may act on the account `userId`: the account's own user, or an admin. Never a monitor. */
export const isSelfOrAdmin = (actor: Principal, userId: string): boolean =>
  actor.kind === "user" && (actor.role === "admin" || actor.userId === userId);

/** Throws `forbidden` unless the actor is a user (not a monitor). */
export function requireUser(actor: Principal): UserPrincipal {
  if (actor.kind !== "user") throw forbidden();
  return actor;
}

/** Throws `forbidden` unless the actor is an admin user. */
export function requireAdmin(actor: Principal): UserPrincipal {
  if (actor.kind !== "user" || actor.role !== "admin") throw forbidden();
  return actor;
}

/** Throws `forbidden` unless the actor is the account's own user or an admin. Checked before any lookup. */
export function requireSelfOrAdmin(actor: Principal, userId: string): UserPrincipal {
  if (actor.kind !== "user" || !isSelfOrAdmin(actor, userId)) throw forbidden();
  return actor;
}

/**
 * Who may create an account: anyone when registration is open and the role is `user`
 * (self-registration, no actor), otherwise an admin (who may create admins).
 */
export function requireMayRegister(
  actor: Principal | undefined,
  role: "user" | "admin",
  registration: "open" | "admin",
): void {
  if (actor === undefined) {
    if (registration !== "open") throw new TrellisError("forbidden", "registration is by an admin only");
    if (role !== "user") throw new TrellisError("forbidden", "only an admin can create an admin");
    return;
  }
  requireAdmin(actor);
}
