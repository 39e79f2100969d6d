import { type Principal, TrellisError, type UserPrincipal } from "@trellis/contracts";

export const forbidden = (message = "not allowed") => new TrellisError("forbidden", message);

/** Monitors (devices) have no business with media: every media endpoint refuses them. */
export function requireUser(actor: Principal): UserPrincipal {
  if (actor.kind !== "user") throw forbidden("monitors have no access to media");
  return actor;
}

export const isAdmin = (user: UserPrincipal): boolean => user.role === "admin";

/**
 * Whether a user may see (read, list, delete) something owned by `ownerId`: its owner or an
 * admin. Callers answer `not_found` otherwise, exactly as for an id that does not exist, so ids
 * of other users' media cannot be probed.
 */
export const mayAccess = (user: UserPrincipal, ownerId: string): boolean => isAdmin(user) || user.userId === ownerId;

/**
 * The user a collection request acts for (`users/{id}/pictures`, `videos?user_id=`): the caller
 * itself by default; another user only for an admin (anyone else: `forbidden`, as the id names a
 * collection, not a resource to hide).
 */
export function actingFor(actor: Principal, userId: string | undefined): { user: UserPrincipal; ownerId: string } {
  const user = requireUser(actor);
  const ownerId = userId ?? user.userId;
  if (ownerId !== user.userId && !isAdmin(user)) throw forbidden("only admins act for other users");
  return { user, ownerId };
}
