import { describe, expect, it } from "vitest";
import { summarizeProbe, UNKNOWN_PROBE } from "./probe-summary.ts";

describe("summarizeProbe", () => {
  it("takes the container's duration and the first real video stream's dimensions and codec", () => {
    const report = {
      format: { duration: "12.345678" },
      streams: [
        { codec_type: "audio", codec_name: "aac" },
        { codec_type: "video", codec_name: "mjpeg", width: 300, height: 300, disposition: { attached_pic: 1 } },
        { codec_type: "video", codec_name: "h264", width: 1280, height: 720, disposition: { attached_pic: 0 } },
      ],
    };
    expect(summarizeProbe(report)).toEqual({ durationMs: 12_346, width: 1280, height: 720, codec: "h264" });
  });

  it("falls back to the stream's duration, and is null where ffprobe could not tell", () => {
    expect(summarizeProbe({ streams: [{ codec_type: "video", duration: "2.5", width: 0 }] })).toEqual({
      durationMs: 2_500,
      width: null,
      height: null,
      codec: null,
    });
    expect(summarizeProbe({ format: { duration: "N/A" }, streams: "nope" })).toEqual(UNKNOWN_PROBE);
    expect(summarizeProbe(null)).toEqual(UNKNOWN_PROBE);
  });
});
