import parseRange from "range-parser";

/** What is known of stored content when a read is decided. */
export interface StoredContent {
  size: number;
  /** Strong ETag, quoted. */
  etag: string;
}

/** The conditional and range headers of the request, as they came. */
export interface ReadRequest {
  range?: string | undefined;
  ifRange?: string | undefined;
  ifNoneMatch?: string | undefined;
}

export type ReadDecision =
  | { status: 200; range: { start: number; end: number } | null }
  | { status: 206; range: { start: number; end: number } }
  | { status: 304; range: null }
  | { status: 416; range: null };

/** The entity tags of an If-None-Match / If-Range value (`*` stays `*`). */
export function entityTags(header: string): string[] {
  const tags: string[] = [];
  for (const m of header.matchAll(/\*|(?:W\/)?"[^"]*"/g)) tags.push(m[0]);
  return tags;
}

/** If-None-Match uses the weak comparison (RFC 9110 13.1.2): `W/"x"` matches `"x"`. */
function noneMatchHits(header: string, etag: string): boolean {
  const bare = (t: string) => t.replace(/^W\//, "");
  return entityTags(header).some((t) => t === "*" || bare(t) === etag);
}

/**
 * Decides a read (RFC 9110): If-None-Match first (a current copy → 304, no bytes); then Range,
 * honoured only for one satisfiable byte range, and only when If-Range (if any) is this exact
 * strong ETag (a date or another tag → the whole content, 200). Several ranges are answered with
 * the whole content (200), which RFC 9110 allows and every player handles; an unsatisfiable range
 * is 416. Empty content has no satisfiable range. A malformed Range header is ignored, as the RFC
 * says.
 */
export function decideRead(content: StoredContent, request: ReadRequest): ReadDecision {
  const whole = content.size === 0 ? null : { start: 0, end: content.size - 1 };
  if (request.ifNoneMatch !== undefined && noneMatchHits(request.ifNoneMatch, content.etag)) {
    return { status: 304, range: null };
  }
  if (request.range === undefined) return { status: 200, range: whole };
  if (request.ifRange !== undefined && request.ifRange.trim() !== content.etag) return { status: 200, range: whole };

  const parsed = parseRange(content.size, request.range, { combine: true });
  if (parsed === -2) return { status: 200, range: whole }; // malformed: ignored
  if (parsed === -1) return { status: 416, range: null };
  if (parsed.type !== "bytes" || parsed.length !== 1) return { status: 200, range: whole };
  const [only] = parsed;
  if (!only) return { status: 200, range: whole };
  return { status: 206, range: { start: only.start, end: only.end } };
}
