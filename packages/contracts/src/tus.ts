import { z } from "zod";

/**
 * The tus 1.0 protocol as Trellis serves it, named once for both sides: the gateway speaks it over
 * HTTP (`/api/v2/uploads`), media keeps the bytes and verifies checksums, and the route objects
 * document it (as tus-node-server's `TUS_RESUMABLE` and `ERRORS` tables do).
 */
export const TUS = {
  /** The only version served (`Tus-Resumable`, `Tus-Version`). */
  version: "1.0.0",
  extensions: ["creation", "termination", "expiration", "checksum"],
  /** `Tus-Checksum-Algorithm`: what `Upload-Checksum` may name (Node's `createHash` names). */
  checksumAlgorithms: ["sha1", "sha256"],
  path: "/api/v2/uploads",
  /** The Content-Type of a PATCH body. */
  patchContentType: "application/offset+octet-stream",
  /** The status of a checksum mismatch (the tus checksum extension's own). */
  checksumMismatchStatus: 460,
  headers: {
    resumable: "Tus-Resumable",
    version: "Tus-Version",
    extension: "Tus-Extension",
    maxSize: "Tus-Max-Size",
    checksumAlgorithm: "Tus-Checksum-Algorithm",
    uploadOffset: "Upload-Offset",
    uploadLength: "Upload-Length",
    uploadMetadata: "Upload-Metadata",
    uploadExpires: "Upload-Expires",
    uploadChecksum: "Upload-Checksum",
    uploadDeferLength: "Upload-Defer-Length",
  },
} as const;

/** An algorithm `Upload-Checksum` may name. */
export const TusChecksumAlgorithm = z.enum(TUS.checksumAlgorithms);
export type TusChecksumAlgorithm = z.infer<typeof TusChecksumAlgorithm>;
