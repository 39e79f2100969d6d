import {
  Filename,
  mediaCatalog,
  mediaV2Routes,
  TranscriptText,
  TrellisError,
  TUS,
  TusChecksumAlgorithm,
  type TusUpload,
} from "@trellis/contracts";
import type { NextFunction, Request, Response, Router } from "express";
import type { Mount } from "./mount.ts";
import { declaredSize, requestBody, uploading } from "./upload.ts";

/**
 * The tus 1.0 protocol (core, creation, termination, expiration, checksum) for resumable video uploads at
 * `/api/v2/uploads`, so tus-js-client and Uppy work unchanged. The gateway speaks HTTP only: each
 * PATCH body streams to media (`call.upload`, credit-based, never whole in memory), which keeps
 * the bytes and the offset. Written here rather than with `@tus/server`: that library owns the
 * HTTP handling (authentication, validation, error bodies and the OpenAPI document come from the
 * contract routes here), keeps upload state in its own config store beside its DataStore, and
 * assumes the DataStore sees the whole upload; media already holds both state and bytes.
 */
const H = TUS.headers;

/** Headers a browser's script must be able to read from tus answers (CORS `Access-Control-Expose-Headers`). */
export const TUS_EXPOSED_HEADERS = [
  "Location",
  H.uploadOffset,
  H.uploadLength,
  H.uploadMetadata,
  H.uploadExpires,
  H.resumable,
  H.version,
  H.extension,
  H.maxSize,
  H.checksumAlgorithm,
];

const httpDate = (iso: string) => new Date(iso).toUTCString();

/**
 * tus `Upload-Metadata`: comma-separated `key` or `key base64value` pairs; keys unique, without
 * spaces or commas; values base64 (standard alphabet) of UTF-8 text here.
 */
export function parseUploadMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (header === undefined || header.trim() === "") return out;
  for (const pair of header.split(",")) {
    const parts = pair.trim().split(" ");
    const [key, value] = parts;
    if (!key || parts.length > 2 || !/^[\x21-\x7e]+$/.test(key)) {
      throw new TrellisError(
        "invalid_argument",
        `${H.uploadMetadata} must be comma-separated \`key base64value\` pairs`,
      );
    }
    if (Object.hasOwn(out, key)) throw new TrellisError("invalid_argument", `${H.uploadMetadata} names ${key} twice`);
    if (value === undefined || value === "") {
      out[key] = "";
      continue;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) {
      throw new TrellisError("invalid_argument", `${H.uploadMetadata} ${key} is not base64`);
    }
    try {
      out[key] = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(value, "base64"));
    } catch {
      throw new TrellisError("invalid_argument", `${H.uploadMetadata} ${key} is not UTF-8 text`);
    }
  }
  return out;
}

/** A non-negative integer header (`Upload-Length`, `Upload-Offset`); 400 when missing or malformed. */
function byteCount(value: string | undefined, name: string): number {
  if (value === undefined) throw new TrellisError("invalid_argument", `${name} is required`);
  if (!/^\d{1,16}$/.test(value.trim())) throw new TrellisError("invalid_argument", `${name} must be a byte count`);
  return Number(value.trim());
}

/** tus checksum: `Upload-Checksum: <algorithm> <base64 digest>`; an algorithm not served → 400. */
function uploadChecksum(value: string | undefined): { algorithm: TusChecksumAlgorithm; digest: string } | undefined {
  if (value === undefined) return undefined;
  const [algorithm, digest, ...extra] = value.trim().split(" ");
  const known = TusChecksumAlgorithm.safeParse(algorithm);
  if (!known.success) {
    throw new TrellisError(
      "invalid_argument",
      `${H.uploadChecksum}: the algorithms are ${TUS.checksumAlgorithms.join(", ")}`,
    );
  }
  if (!digest || extra.length > 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest) || digest.length > 100) {
    throw new TrellisError("invalid_argument", `${H.uploadChecksum} must be \`<algorithm> <base64 digest>\``);
  }
  return { algorithm: known.data, digest };
}

/**
 * Runs before the routes: every tus answer (errors too) names the protocol, and every request but
 * OPTIONS must speak 1.0.0 (412 with `Tus-Version` otherwise), before authentication.
 */
function tusPreamble(req: Request, res: Response, next: NextFunction): void {
  res.setHeader(H.resumable, TUS.version);
  if (req.method !== "OPTIONS" && req.get(H.resumable) !== TUS.version) {
    res.setHeader(H.version, TUS.version);
    if (!req.complete) res.setHeader("Connection", "close");
    res.status(412);
    const error = new TrellisError("failed_precondition", `${H.resumable} must be ${TUS.version}`);
    res.json({ error: error.toBody() });
    return;
  }
  next();
}

function uploadHeaders(u: TusUpload): Record<string, string> {
  return { [H.uploadOffset]: String(u.offset), [H.uploadExpires]: httpDate(u.expiresAt) };
}

/** The tus routes. Registered before the JSON parser (PATCH bodies are the upload's bytes). */
export function registerTus(router: Router, mount: Mount): void {
  const r = mediaV2Routes;
  router.use(TUS.path, tusPreamble);

  mount(router, r.tusOptions, async ({ call }) => {
    const { maxBytes } = await call(mediaCatalog.tusLimits, {});
    return {
      status: 204,
      headers: {
        [H.version]: TUS.version,
        [H.extension]: TUS.extensions.join(","),
        [H.maxSize]: String(maxBytes),
        [H.checksumAlgorithm]: TUS.checksumAlgorithms.join(","),
      },
    };
  });

  mount(router, r.tusCreate, async ({ headers, req, call }) => {
    if (req.get(H.uploadDeferLength) !== undefined) {
      throw new TrellisError("invalid_argument", `${H.uploadDeferLength} is not supported: send ${H.uploadLength}`);
    }
    const length = byteCount(headers["upload-length"], H.uploadLength);
    const metadata = parseUploadMetadata(headers["upload-metadata"]);
    const filename = Filename.safeParse(metadata.filename ?? "");
    if (!filename.success) {
      throw new TrellisError(
        "invalid_argument",
        `${H.uploadMetadata} filename is required: ${filename.error.issues[0]?.message ?? "invalid"}`,
      );
    }
    let transcript: string | undefined;
    if (metadata.transcript !== undefined) {
      const parsed = TranscriptText.safeParse(metadata.transcript);
      if (!parsed.success)
        throw new TrellisError("invalid_argument", `${H.uploadMetadata} transcript is empty or too long`);
      transcript = parsed.data;
    }
    const upload = await call(mediaCatalog.createTusUpload, {
      length,
      filename: filename.data,
      ...(transcript !== undefined ? { transcript } : {}),
    });
    return {
      status: 201,
      body: upload,
      headers: {
        Location: `${TUS.path}/${upload.id}`,
        [H.uploadExpires]: httpDate(upload.expiresAt),
      },
    };
  });

  mount(router, r.tusHead, async ({ params, call }) => {
    const upload = await call(mediaCatalog.getTusUpload, { uploadId: params.id });
    return {
      status: 200,
      headers: {
        ...uploadHeaders(upload),
        [H.uploadLength]: String(upload.length),
        [H.uploadMetadata]: `filename ${Buffer.from(upload.filename, "utf8").toString("base64")}`,
        "Cache-Control": "no-store",
      },
    };
  });

  mount(router, r.tusPatch, async ({ params, headers, req, res, call }) => {
    const upload = await uploading(req, res, async () => {
      if (!req.is(TUS.patchContentType)) {
        throw new TrellisError("unsupported_media_type", `a tus PATCH body must be ${TUS.patchContentType}`);
      }
      const offset = byteCount(headers["upload-offset"], H.uploadOffset);
      const checksum = uploadChecksum(headers["upload-checksum"]);
      return call.upload(
        mediaCatalog.appendTusUpload,
        { uploadId: params.id, offset, ...declaredSize(req), ...(checksum ? { checksum } : {}) },
        requestBody(req),
      );
    });
    if (upload.checksumMismatch) {
      const error = new TrellisError(
        "invalid_argument",
        `the body does not match ${H.uploadChecksum}: none of it was kept`,
      );
      return { status: TUS.checksumMismatchStatus, body: { error: error.toBody() } };
    }
    // Finished: it is the video now, and expires no more.
    return {
      status: 204,
      headers: upload.video ? { [H.uploadOffset]: String(upload.offset) } : uploadHeaders(upload),
    };
  });

  mount(router, r.tusDelete, async ({ params, req, res, call }) => {
    await call(mediaCatalog.deleteTusUpload, { uploadId: params.id });
    if (!req.complete) res.setHeader("Connection", "close");
    return { status: 204 };
  });
}
