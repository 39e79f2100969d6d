import { decodePageCursor, encodePageCursor, TrellisError } from "@trellis/contracts";

/** Where a newest-first listing stopped: the last item's creation time and id (ties broken by id). */
export interface PageCursor {
  at: number;
  id: string;
}

export function encodeCursor(c: PageCursor): string {
  return encodePageCursor(c.at, c.id);
}

export function decodeCursor(value: string): PageCursor {
  const position = decodePageCursor(value);
  if (!position) throw new TrellisError("invalid_argument", "cursor is not one this API gave out");
  return position;
}

/** A page from `limit + 1` items fetched: the first `limit`, and the cursor after them if more exist. */
export function pageOf<T>(fetched: readonly T[], limit: number, cursorOf: (item: T) => PageCursor) {
  const items = fetched.slice(0, limit);
  const last = items.at(-1);
  return { items, next: fetched.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}
