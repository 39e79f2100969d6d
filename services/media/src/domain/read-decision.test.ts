import { describe, expect, it } from "vitest";
import { decideRead, entityTags } from "./read-decision.ts";

const etag = `"${"a".repeat(64)}"`;
const content = { size: 1_000, etag };
const whole = { start: 0, end: 999 };

describe("decideRead", () => {
  it("sends everything without Range", () => {
    expect(decideRead(content, {})).toEqual({ status: 200, range: whole });
  });

  it("answers one range with 206: first byte, last byte, middle, suffix, open end, Safari's probe", () => {
    const r = (range: string) => decideRead(content, { range });
    expect(r("bytes=0-0")).toEqual({ status: 206, range: { start: 0, end: 0 } });
    expect(r("bytes=999-999")).toEqual({ status: 206, range: { start: 999, end: 999 } });
    expect(r("bytes=400-599")).toEqual({ status: 206, range: { start: 400, end: 599 } });
    expect(r("bytes=-500")).toEqual({ status: 206, range: { start: 500, end: 999 } });
    expect(r("bytes=900-")).toEqual({ status: 206, range: { start: 900, end: 999 } });
    expect(r("bytes=0-1")).toEqual({ status: 206, range: { start: 0, end: 1 } });
    // A last byte past the end is clipped to the end (RFC 9110 14.1.2).
    expect(r("bytes=990-5000")).toEqual({ status: 206, range: { start: 990, end: 999 } });
  });

  it("answers an unsatisfiable range with 416", () => {
    expect(decideRead(content, { range: "bytes=1000-" })).toEqual({ status: 416, range: null });
    expect(decideRead(content, { range: "bytes=5000-6000" })).toEqual({ status: 416, range: null });
    expect(decideRead({ size: 0, etag }, { range: "bytes=0-1" })).toEqual({ status: 416, range: null });
  });

  it("answers several ranges with the whole content (overlapping ones combine into one range)", () => {
    expect(decideRead(content, { range: "bytes=0-9,500-509" })).toEqual({ status: 200, range: whole });
    expect(decideRead(content, { range: "bytes=0-9,5-19" })).toEqual({ status: 206, range: { start: 0, end: 19 } });
  });

  it("ignores a malformed Range header and other units", () => {
    expect(decideRead(content, { range: "bytes=abc" })).toEqual({ status: 200, range: whole });
    expect(decideRead(content, { range: "items=0-5" })).toEqual({ status: 200, range: whole });
  });

  it("honours If-Range only with this exact strong ETag", () => {
    expect(decideRead(content, { range: "bytes=0-9", ifRange: etag })).toEqual({
      status: 206,
      range: { start: 0, end: 9 },
    });
    expect(decideRead(content, { range: "bytes=0-9", ifRange: '"stale"' })).toEqual({ status: 200, range: whole });
    expect(decideRead(content, { range: "bytes=0-9", ifRange: `W/${etag}` })).toEqual({ status: 200, range: whole });
    expect(decideRead(content, { range: "bytes=0-9", ifRange: "Tue, 01 Dec 2026 10:00:00 GMT" })).toEqual({
      status: 200,
      range: whole,
    });
  });

  it("answers a current If-None-Match with 304 before looking at Range", () => {
    expect(decideRead(content, { ifNoneMatch: etag, range: "bytes=0-9" })).toEqual({ status: 304, range: null });
    expect(decideRead(content, { ifNoneMatch: `"other", W/${etag}` })).toEqual({ status: 304, range: null });
    expect(decideRead(content, { ifNoneMatch: "*" })).toEqual({ status: 304, range: null });
    expect(decideRead(content, { ifNoneMatch: '"other"' })).toEqual({ status: 200, range: whole });
  });

  it("sends nothing for empty content", () => {
    expect(decideRead({ size: 0, etag }, {})).toEqual({ status: 200, range: null });
  });
});

describe("entityTags", () => {
  it("splits a list of tags", () => {
    expect(entityTags(' "a", W/"b" ,"c,d"')).toEqual(['"a"', 'W/"b"', '"c,d"']);
    expect(entityTags("*")).toEqual(["*"]);
    expect(entityTags("garbage")).toEqual([]);
  });
});
