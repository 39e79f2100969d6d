import { type Principal, TrellisError, type UserPrincipal } from "@trellis/contracts";

/**
 * Monitors have no analyses: a monitor token is `forbidden` on every analysis route, whatever the
 * id (the platform's rule: 403 for what the caller's kind may never do, 404 for a resource that is
 * not theirs, as for one that does not exist).
 */
export function requireUser(actor: Principal): UserPrincipal {
  if (actor.kind !== "user") throw new TrellisError("forbidden", "monitors have no analyses");
  return actor;
}

/** Whether `actor` may see and act on an analysis of `ownerId`'s video: its owner or an admin. */
export const mayAccess = (actor: Principal, ownerId: string): boolean =>
  actor.kind === "user" && (actor.role === "admin" || actor.userId === ownerId);

/** What decides who may answer an analysis's questions. */
export interface AnswerableAnalysis {
  ownerId: string;
  shared: boolean;
  trackedUrl: string | null;
}

/**
 * Whether `actor` may read an analysis's questions (without answers unless `mayAccess`) and answer
 * them: its owner and admins; any signed-in user once the owner shared it or linked it to a
 * tracked video (tracked videos are public to users, as seed 001's engagement is). Monitors never.
 */
export const mayAnswer = (actor: Principal, a: AnswerableAnalysis): boolean =>
  mayAccess(actor, a.ownerId) || (actor.kind === "user" && (a.shared || a.trackedUrl !== null));
