import { authCatalog, type Principal, TrellisError, type UserPrincipal } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { MediaContext } from "../context.ts";
import { mayAccess, requireUser } from "../domain/authorization.ts";
import { SNIFF_BYTES } from "../domain/sniff.ts";

export const notFound = (what: string) => new TrellisError("not_found", `${what} not found`);

export const tooLarge = (what: string, max: number) =>
  new TrellisError("payload_too_large", `a ${what} may have at most ${max} bytes`);

/**
 * A stored item the actor may see, or `not_found`: for an id that does not exist and for one
 * that is not the actor's (unless admin) alike, so other users' ids cannot be probed.
 */
export async function accessible<T>(
  actor: Principal,
  find: () => Promise<T | null>,
  ownerOf: (doc: T) => string,
  what: string,
): Promise<{ doc: T; user: UserPrincipal }> {
  const user = requireUser(actor);
  const doc = await find();
  if (doc === null || !mayAccess(user, ownerOf(doc))) throw notFound(what);
  return { doc, user };
}

/** An admin acting for another user: that user must exist (auth says; unknown → not_found). */
export async function requireExistingUser(
  t: MediaContext,
  actor: Principal,
  userId: string,
  requestId: string,
): Promise<void> {
  try {
    await request(t.nc, authCatalog.getUser, { actor, userId }, { requestId });
  } catch (err) {
    if (err instanceof TrellisError && err.code === "not_found") throw notFound("user");
    throw err;
  }
}

/**
 * The first bytes of an upload (at least `SNIFF_BYTES`, unless it is shorter) and the iterator
 * positioned after them, so the type is decided before the rest is read.
 */
export async function readHead(
  upload: AsyncIterable<Uint8Array>,
): Promise<{ head: Uint8Array; rest: AsyncIterator<Uint8Array> }> {
  const rest = upload[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  let length = 0;
  while (length < SNIFF_BYTES) {
    const next = await rest.next();
    if (next.done) break;
    parts.push(next.value);
    length += next.value.length;
  }
  return { head: Buffer.concat(parts, length), rest };
}

/** Iterates what remains of an iterator (once). */
export async function* remaining(it: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Stopped early (a refusal): the upload's receiver stops the caller's sending.
    await it.return?.();
  }
}
