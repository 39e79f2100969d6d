import {
  Filename,
  mediaCatalog,
  mediaV2Routes,
  TranscriptText,
  TrellisError,
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
export const TUS_VERSION = "1.0.0";
export const TUS_EXTENSIONS = "creation,termination,expiration,checksum";
export const TUS_CHECKSUM_ALGORITHMS = ["sha1", "sha256"] as const;
export const TUS_PATH = "/api/v2/uploads";

/** Headers a browser's script must be able to read from tus answers (CORS `Access-Control-Expose-Headers`). */
export const TUS_EXPOSED_HEADERS = [
  "Location",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Metadata",
  "Upload-Expires",
  "Tus-Resumable",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Tus-Checksum-Algorithm",
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
      throw new TrellisError("invalid_argument", "Upload-Metadata must be comma-separated `key base64value` pairs");
    }
    if (Object.hasOwn(out, key)) throw new TrellisError("invalid_argument", `Upload-Metadata names ${key} twice`);
    if (value === undefined || value === "") {
      out[key] = "";
      continue;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) {
      throw new TrellisError("invalid_argument", `Upload-Metadata ${key} is not base64`);
    }
    try {
      out[key] = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(value, "base64"));
    } catch {
      throw new TrellisError("invalid_argument", `Upload-Metadata ${key} is not UTF-8 text`);
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
function uploadChecksum(
  value: string | undefined,
): { algorithm: (typeof TUS_CHECKSUM_ALGORITHMS)[number]; digest: string } | undefined {
  if (value === undefined) return undefined;
  const [algorithm, digest, ...extra] = value.trim().split(" ");
  const known = TUS_CHECKSUM_ALGORITHMS.find((a) => a === algorithm);
  if (!known) {
    throw new TrellisError(
      "invalid_argument",
      `Upload-Checksum: the algorithms are ${TUS_CHECKSUM_ALGORITHMS.join(", ")}`,
    );
  }
  if (!digest || extra.length > 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest) || digest.length > 100) {
    throw new TrellisError("invalid_argument", "Upload-Checksum must be `<algorithm> <base64 digest>`");
  }
  return { algorithm: known, digest };
}

/**
 * Runs before the routes: every tus answer (errors too) names the protocol, and every request but
 * OPTIONS must speak 1.0.0 (412 with `Tus-Version` otherwise), before authentication.
 */
function tusPreamble(req: Request, res: Response, next: NextFunction): void {
  res.setHeader("Tus-Resumable", TUS_VERSION);
  if (req.method !== "OPTIONS" && req.get("tus-resumable") !== TUS_VERSION) {
    res.setHeader("Tus-Version", TUS_VERSION);
    if (!req.complete) res.setHeader("Connection", "close");
    res.status(412);
    const error = new TrellisError("failed_precondition", `Tus-Resumable must be ${TUS_VERSION}`);
    res.json({ error: error.toBody() });
    return;
  }
  next();
}

function uploadHeaders(u: TusUpload): Record<string, string> {
  return { "Upload-Offset": String(u.offset), "Upload-Expires": httpDate(u.expiresAt) };
}

/** The tus routes. Registered before the JSON parser (PATCH bodies are the upload's bytes). */
export function registerTus(router: Router, mount: Mount): void {
  const r = mediaV2Routes;
  router.use(TUS_PATH, tusPreamble);

  mount(router, r.tusOptions, async ({ call }) => {
    const { maxBytes } = await call(mediaCatalog.tusLimits, {});
    return {
      status: 204,
      headers: {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Max-Size": String(maxBytes),
        "Tus-Checksum-Algorithm": TUS_CHECKSUM_ALGORITHMS.join(","),
      },
    };
  });

  mount(router, r.tusCreate, async ({ headers, req, call }) => {
    if (req.get("upload-defer-length") !== undefined) {
      throw new TrellisError("invalid_argument", "Upload-Defer-Length is not supported: send Upload-Length");
    }
    const length = byteCount(headers["upload-length"], "Upload-Length");
    const metadata = parseUploadMetadata(headers["upload-metadata"]);
    const filename = Filename.safeParse(metadata.filename ?? "");
    if (!filename.success) {
      throw new TrellisError(
        "invalid_argument",
        `Upload-Metadata filename is required: ${filename.error.issues[0]?.message ?? "invalid"}`,
      );
    }
    let transcript: string | undefined;
    if (metadata.transcript !== undefined) {
      const parsed = TranscriptText.safeParse(metadata.transcript);
      if (!parsed.success)
        throw new TrellisError("invalid_argument", "Upload-Metadata transcript is empty or too long");
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
        Location: `${TUS_PATH}/${upload.id}`,
        "Upload-Expires": httpDate(upload.expiresAt),
      },
    };
  });

  mount(router, r.tusHead, async ({ params, call }) => {
    const upload = await call(mediaCatalog.getTusUpload, { uploadId: params.id });
    return {
      status: 200,
      headers: {
        ...uploadHeaders(upload),
        "Upload-Length": String(upload.length),
        "Upload-Metadata": `filename ${Buffer.from(upload.filename, "utf8").toString("base64")}`,
        "Cache-Control": "no-store",
      },
    };
  });

  mount(router, r.tusPatch, async ({ params, headers, req, res, call }) => {
    const upload = await uploading(req, res, async () => {
      if (!req.is("application/offset+octet-stream")) {
        throw new TrellisError("unsupported_media_type", "a tus PATCH body must be application/offset+octet-stream");
      }
      const offset = byteCount(headers["upload-offset"], "Upload-Offset");
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
        "the body does not match Upload-Checksum: none of it was kept",
      );
      return { status: 460, body: { error: error.toBody() } };
    }
    // Finished: it is the video now, and expires no more.
    return {
      status: 204,
      headers: upload.video ? { "Upload-Offset": String(upload.offset) } : uploadHeaders(upload),
    };
  });

  mount(router, r.tusDelete, async ({ params, req, res, call }) => {
    await call(mediaCatalog.deleteTusUpload, { uploadId: params.id });
    if (!req.complete) res.setHeader("Connection", "close");
    return { status: 204 };
  });
}
