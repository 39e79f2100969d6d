import { describe, expect, it } from "vitest";
import { decideRead, entityTags } from "./read-decision.ts";

const etag = `"${"a".repeat(64)}"`;
const content = { size: 1_000, etag };
const whole = { start: 0, end: 999 };

describe("decideRead", () => {
  it("sends everything without Range", () => {
    expect(decideRead(content, {})).toEqual({ outcome: "full", range: whole });
  });

  it("answers one range with 206: first byte, last byte, middle, suffix, open end, Safari's probe", () => {
    const r = (range: string) => decideRead(content, { range });
    expect(r("bytes=0-0")).toEqual({ outcome: "partial", range: { start: 0, end: 0 } });
    expect(r("bytes=999-999")).toEqual({ outcome: "partial", range: { start: 999, end: 999 } });
    expect(r("bytes=400-599")).toEqual({ outcome: "partial", range: { start: 400, end: 599 } });
    expect(r("bytes=-500")).toEqual({ outcome: "partial", range: { start: 500, end: 999 } });
    expect(r("bytes=900-")).toEqual({ outcome: "partial", range: { start: 900, end: 999 } });
    expect(r("bytes=0-1")).toEqual({ outcome: "partial", range: { start: 0, end: 1 } });
    // A last byte past the end is clipped to the end (RFC 9110 14.1.2).
    expect(r("bytes=990-5000")).toEqual({ outcome: "partial", range: { start: 990, end: 999 } });
  });

  it("answers an unsatisfiable range with 416", () => {
    expect(decideRead(content, { range: "bytes=1000-" })).toEqual({ outcome: "unsatisfiable", range: null });
    expect(decideRead(content, { range: "bytes=5000-6000" })).toEqual({ outcome: "unsatisfiable", range: null });
    expect(decideRead({ size: 0, etag }, { range: "bytes=0-1" })).toEqual({ outcome: "unsatisfiable", range: null });
  });

  it("answers several ranges with the whole content (overlapping ones combine into one range)", () => {
    expect(decideRead(content, { range: "bytes=0-9,500-509" })).toEqual({ outcome: "full", range: whole });
    expect(decideRead(content, { range: "bytes=0-9,5-19" })).toEqual({
      outcome: "partial",
      range: { start: 0, end: 19 },
    });
  });

  it("ignores a malformed Range header and other units", () => {
    expect(decideRead(content, { range: "bytes=abc" })).toEqual({ outcome: "full", range: whole });
    expect(decideRead(content, { range: "items=0-5" })).toEqual({ outcome: "full", range: whole });
  });

  it("honours If-Range only with this exact strong ETag", () => {
    expect(decideRead(content, { range: "bytes=0-9", ifRange: etag })).toEqual({
      outcome: "partial",
      range: { start: 0, end: 9 },
    });
    expect(decideRead(content, { range: "bytes=0-9", ifRange: '"stale"' })).toEqual({ outcome: "full", range: whole });
    expect(decideRead(content, { range: "bytes=0-9", ifRange: `W/${etag}` })).toEqual({
      outcome: "full",
      range: whole,
    });
    expect(decideRead(content, { range: "bytes=0-9", ifRange: "Tue, 01 Dec 2026 10:00:00 GMT" })).toEqual({
      outcome: "full",
      range: whole,
    });
  });

  it("answers a current If-None-Match with 304 before looking at Range", () => {
    expect(decideRead(content, { ifNoneMatch: etag, range: "bytes=0-9" })).toEqual({
      outcome: "not_modified",
      range: null,
    });
    expect(decideRead(content, { ifNoneMatch: `"other", W/${etag}` })).toEqual({
      outcome: "not_modified",
      range: null,
    });
    expect(decideRead(content, { ifNoneMatch: "*" })).toEqual({ outcome: "not_modified", range: null });
    expect(decideRead(content, { ifNoneMatch: '"other"' })).toEqual({ outcome: "full", range: whole });
  });

  it("sends nothing for empty content", () => {
    expect(decideRead({ size: 0, etag }, {})).toEqual({ outcome: "full", range: null });
  });
});

describe("entityTags", () => {
  it("splits a list of tags", () => {
    expect(entityTags(' "a", W/"b" ,"c,d"')).toEqual(['"a"', 'W/"b"', '"c,d"']);
    expect(entityTags("*")).toEqual(["*"]);
    expect(entityTags("garbage")).toEqual([]);
  });
});
