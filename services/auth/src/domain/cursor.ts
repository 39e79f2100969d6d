import { TrellisError } from "@trellis/contracts";

/** Position after the last item of a page of users ordered by (createdAt, id). */
export interface UserCursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(cursor: UserCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.createdAt.getTime(), i: cursor.id }), "utf8").toString("base64url");
}

/** Decodes an opaque cursor; anything that is not one of ours is `invalid_argument`. */
export function decodeCursor(value: string): UserCursor {
  const invalid = () => new TrellisError("invalid_argument", "cursor is invalid");
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== "object" || parsed === null) throw invalid();
  const { t, i } = parsed as { t?: unknown; i?: unknown };
  if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0) throw invalid();
  if (typeof i !== "string" || i.length === 0 || i.length > 64) throw invalid();
  return { createdAt: new Date(t), id: i };
}
