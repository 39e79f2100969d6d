import type { Principal } from "@trellis/contracts";

/** Whether `actor` may see and act on an analysis of `ownerId`'s video: its owner or an admin. */
export const mayAccess = (actor: Principal, ownerId: string): boolean =>
  actor.kind === "user" && (actor.role === "admin" || actor.userId === ownerId);
