import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { describeContent, sniffPicture, sniffVideo } from "./sniff.ts";

const image = (format: "png" | "jpeg" | "webp" | "gif" | "avif" | "tiff") =>
  sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .toFormat(format)
    .toBuffer();

/** The first bytes of a Matroska/WebM file: an EBML header with its DocType. */
const ebml = (docType: string) =>
  Buffer.concat([
    Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | (3 + docType.length), 0x42, 0x82, 0x80 | docType.length]),
    Buffer.from(docType),
    Buffer.alloc(64),
  ]);
/** An ISO BMFF `ftyp` box with the given major brand. */
const ftyp = (brand: string) =>
  Buffer.concat([
    Buffer.from([0, 0, 0, 0x14]),
    Buffer.from(`ftyp${brand}`),
    Buffer.alloc(4),
    Buffer.from(brand),
    Buffer.alloc(64),
  ]);

const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
const script = Buffer.from("#!/bin/sh\nrm -rf /\n");

describe("sniffPicture", () => {
  it.each(["png", "jpeg", "webp", "gif", "avif"] as const)("recognises %s from its bytes", async (format) => {
    const expected = format === "jpeg" ? "image/jpeg" : `image/${format}`;
    expect(await sniffPicture(await image(format))).toBe(expected);
  });

  it("refuses SVG, scripts, other image formats, videos and nothing at all", async () => {
    expect(await sniffPicture(svg)).toBeNull();
    expect(await sniffPicture(script)).toBeNull();
    expect(await sniffPicture(await image("tiff"))).toBeNull();
    expect(await sniffPicture(ftyp("isom"))).toBeNull();
    expect(await sniffPicture(new Uint8Array(0))).toBeNull();
  });
});

describe("sniffVideo", () => {
  it("recognises MP4, MOV, WebM and Matroska by their headers", async () => {
    expect(await sniffVideo(ftyp("isom"))).toBe("video/mp4");
    expect(await sniffVideo(ftyp("qt  "))).toBe("video/quicktime");
    expect(await sniffVideo(ebml("webm"))).toBe("video/webm");
    expect(await sniffVideo(ebml("matroska"))).toBe("video/matroska");
  });

  it("refuses pictures, text and scripts", async () => {
    expect(await sniffVideo(await image("png"))).toBeNull();
    expect(await sniffVideo(script)).toBeNull();
    expect(await sniffVideo(Buffer.from("hello"))).toBeNull();
  });
});

describe("describeContent", () => {
  it("names what was sent instead", async () => {
    expect(await describeContent(await image("png"))).toBe("image/png");
    expect(await describeContent(new Uint8Array(0))).toBe("empty");
    expect(await describeContent(script)).toBe("of an unknown type");
  });
});
