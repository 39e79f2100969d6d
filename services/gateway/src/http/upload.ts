import { TrellisError } from "@trellis/contracts";
import type { Request, Response } from "express";

/**
 * The request body as it arrives, for `call.upload`: read only as fast as the service takes it
 * (so a slow service slows the client down through TCP, and the gateway holds at most one
 * flow-control window). A client that disconnects before the end fails the iteration, which
 * aborts the upload at the service.
 */
export async function* requestBody(req: Request): AsyncGenerator<Uint8Array> {
  for await (const chunk of req) yield chunk as Uint8Array;
  // The stream can also just end when the connection drops mid-body.
  if (!req.complete) throw new TrellisError("cancelled", "the client went away before the end of the body");
}

/** The request's Content-Length, when it declared one (a chunked body has none). */
export function declaredSize(req: Request): { declaredSize?: number } {
  const value = req.get("content-length");
  if (value === undefined || !/^\d{1,16}$/.test(value)) return {};
  return { declaredSize: Number(value) };
}

/**
 * Runs an upload; when it fails before the body was read to the end (a refusal: too large, wrong
 * type), the connection is closed after the answer, so the client need not send (and the server
 * need not read) the rest of a large body.
 */
export async function uploading<T>(req: Request, res: Response, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!req.complete && !res.headersSent) res.setHeader("Connection", "close");
    throw err;
  }
}

/**
 * A small text body (a transcript), read whole: at most `limitBytes` (413 past it), UTF-8 (400
 * otherwise).
 */
export async function readText(req: Request, limitBytes: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new TrellisError("payload_too_large", `the body may have at most ${limitBytes} bytes`);
    parts.push(chunk as Buffer);
  }
  if (!req.complete) throw new TrellisError("cancelled", "the client went away before the end of the body");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts, size));
  } catch {
    throw new TrellisError("invalid_argument", "the body is not UTF-8 text");
  }
}
