import type { ReadOutcome } from "@trellis/contracts";
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

/** A read outcome (the contracts' `ReadOutcome`) and the bytes that follow, inclusive. */
export type ReadDecision =
  | { outcome: Extract<ReadOutcome, "full">; range: { start: number; end: number } | null }
  | { outcome: Extract<ReadOutcome, "partial">; range: { start: number; end: number } }
  | { outcome: Extract<ReadOutcome, "not_modified" | "unsatisfiable">; range: null };

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
 * Decides a read (RFC 9110): If-None-Match first (a current copy → `not_modified`, no bytes); then
 * Range, honoured (`partial`) only for one satisfiable byte range, and only when If-Range (if any)
 * is this exact strong ETag (a date or another tag → the whole content, `full`). Several ranges
 * are answered with the whole content, which RFC 9110 allows and every player handles; an
 * unsatisfiable range is `unsatisfiable`. Empty content has no satisfiable range. A malformed
 * Range header is ignored, as the RFC says.
 */
export function decideRead(content: StoredContent, request: ReadRequest): ReadDecision {
  const whole = content.size === 0 ? null : { start: 0, end: content.size - 1 };
  if (request.ifNoneMatch !== undefined && noneMatchHits(request.ifNoneMatch, content.etag)) {
    return { outcome: "not_modified", range: null };
  }
  if (request.range === undefined) return { outcome: "full", range: whole };
  if (request.ifRange !== undefined && request.ifRange.trim() !== content.etag)
    return { outcome: "full", range: whole };

  const parsed = parseRange(content.size, request.range, { combine: true });
  if (parsed === -2) return { outcome: "full", range: whole }; // malformed: ignored
  if (parsed === -1) return { outcome: "unsatisfiable", range: null };
  if (parsed.type !== "bytes" || parsed.length !== 1) return { outcome: "full", range: whole };
  const [only] = parsed;
  if (!only) return { outcome: "full", range: whole };
  return { outcome: "partial", range: { start: only.start, end: only.end } };
}
