import type { User } from "@trellis/contracts";
import type { UserDoc } from "../store/users.ts";

/** A user as other parties see it: never the hash or the encoding. */
export const userView = (doc: UserDoc): User => ({
  id: doc._id,
  username: doc.username,
  email: doc.email,
  role: doc.role,
  createdAt: doc.createdAt.toISOString(),
  hasFaceEncoding: doc.faceEncoding !== null && doc.faceEncoding !== undefined,
});
