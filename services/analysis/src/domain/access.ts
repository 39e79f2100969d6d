import type { Principal } from "@trellis/contracts";

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
