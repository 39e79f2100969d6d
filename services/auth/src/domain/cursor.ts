import { decodePageCursor, encodePageCursor, TrellisError } from "@trellis/contracts";

/** Position after the last item of a page of users ordered by (createdAt, id). */
export interface UserCursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(cursor: UserCursor): string {
  return encodePageCursor(cursor.createdAt.getTime(), cursor.id);
}

/** Decodes a cursor (`<ms>.<id>`, the contract's `PageCursor`); anything else is `invalid_argument`. */
export function decodeCursor(value: string): UserCursor {
  const position = decodePageCursor(value);
  if (!position) throw new TrellisError("invalid_argument", "cursor is invalid");
  return { createdAt: new Date(position.at), id: position.id };
}
