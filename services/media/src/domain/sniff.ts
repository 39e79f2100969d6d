import { PICTURE_TYPES, type PictureType, VIDEO_TYPES, type VideoType } from "@trellis/contracts";
import { fileTypeFromBuffer } from "file-type";

/**
 * How many leading bytes the type is decided from: file-type reads at most this many for every
 * format media accepts, so an upload is judged (and refused) before the rest is read.
 */
export const SNIFF_BYTES = 4_100;

const pictureTypes: ReadonlySet<string> = new Set(PICTURE_TYPES);
const videoTypes: ReadonlySet<string> = new Set(VIDEO_TYPES);

/** The type the bytes say, by their magic numbers; `undefined` when file-type knows none. */
async function detect(head: Uint8Array): Promise<string | undefined> {
  return (await fileTypeFromBuffer(head))?.mime;
}

/**
 * A picture's type from its first bytes, never from a name or a declared type: JPEG, PNG, WebP,
 * GIF or AVIF, else null (SVG is text, not an image format media keeps: it can carry scripts).
 */
export async function sniffPicture(head: Uint8Array): Promise<PictureType | null> {
  const mime = await detect(head);
  return mime !== undefined && pictureTypes.has(mime) ? (mime as PictureType) : null;
}

/** A video's container from its first bytes: MP4/MOV, WebM, Matroska, …, else null. */
export async function sniffVideo(head: Uint8Array): Promise<VideoType | null> {
  const mime = await detect(head);
  return mime !== undefined && videoTypes.has(mime) ? (mime as VideoType) : null;
}

/** What an unrecognised upload was, for the error message (`a PNG image`, `text`, …). */
export async function describeContent(head: Uint8Array): Promise<string> {
  const mime = await detect(head);
  if (mime) return mime;
  return head.length === 0 ? "empty" : "of an unknown type";
}
