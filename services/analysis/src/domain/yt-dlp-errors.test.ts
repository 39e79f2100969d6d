import { describe, expect, it } from "vitest";
import { classifyYtDlpError, ytDlpErrorLine } from "./yt-dlp-errors.ts";

/** Lines as yt-dlp 2026.10.26 prints them (captured against a local server). */
const ORIGIN_404 =
  "WARNING: [generic] Falling back on generic information extractor\nERROR: [generic] missing: Unable to download webpage: HTTP Error 404: File not found (caused by <HTTPError 404: File not found>)\n";
const REFUSED =
  "ERROR: [generic] x: Unable to download webpage: [Errno 111] Connection refused (caused by TransportError('[Errno 111] Connection refused'))\n";
const UNSUPPORTED =
  "WARNING: [generic] Falling back on generic information extractor\nERROR: Unsupported URL: http://127.0.0.1:1/plain.html\n";

describe("yt-dlp failures", () => {
  it("reads the last ERROR line without Python's cause", () => {
    expect(ytDlpErrorLine(ORIGIN_404)).toBe(
      "[generic] missing: Unable to download webpage: HTTP Error 404: File not found",
    );
  });

  it("treats 4xx from the origin and unsupported URLs as invalid input (never retried)", () => {
    expect(classifyYtDlpError(ORIGIN_404)).toEqual({
      kind: "invalid",
      message:
        "the origin refused the URL: [generic] missing: Unable to download webpage: HTTP Error 404: File not found",
    });
    expect(classifyYtDlpError("ERROR: unable to download video data: HTTP Error 403: Forbidden").kind).toBe("invalid");
    expect(classifyYtDlpError(UNSUPPORTED)).toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/^no video found/),
    });
    expect(classifyYtDlpError("ERROR: [youtube] dQw4w9WgXcQ: Video unavailable").kind).toBe("invalid");
    expect(
      classifyYtDlpError("ERROR: [youtube] dQw4w9WgXcQ: Private video. Sign in if you've been granted access").kind,
    ).toBe("invalid");
  });

  it("treats network errors, 5xx, 408 and 429 as transient (retried with backoff)", () => {
    expect(classifyYtDlpError(REFUSED).kind).toBe("transient");
    expect(
      classifyYtDlpError("ERROR: [generic] x: Unable to download webpage: HTTP Error 503: Service Unavailable").kind,
    ).toBe("transient");
    expect(classifyYtDlpError("ERROR: unable to download video data: HTTP Error 429: Too Many Requests").kind).toBe(
      "transient",
    );
    expect(
      classifyYtDlpError("ERROR: [generic] x: Unable to download webpage: The read operation timed out").kind,
    ).toBe("transient");
    expect(classifyYtDlpError("ERROR: [Errno -3] Temporary failure in name resolution").kind).toBe("transient");
    expect(classifyYtDlpError("").kind).toBe("transient");
  });
});
