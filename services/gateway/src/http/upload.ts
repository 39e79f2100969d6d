import { type HttpRoute, openApiPath, TrellisError } from "@trellis/contracts";
import type { Request, Response } from "express";

/**
 * The request body as it arrives, for `call.upload`: read only as fast as the service takes it
 * (so a slow service slows the client down through TCP, and the gateway holds at most one
 * flow-control window). A client that disconnects before the end fails the iteration, which
 * aborts the upload at the service.
 */
export async function* requestBody(req: Request): AsyncGenerator<Uint8Array> {
  // Not destroyed when the consumer stops early (a refusal): `uploading` drains the rest.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) yield chunk as Uint8Array;
  // The stream can also just end when the connection drops mid-body.
  if (!req.complete) throw new TrellisError("cancelled", "the client went away before the end of the body");
}

/** The request's Content-Length, when it declared one (a chunked body has none). */
export function declaredSize(req: Request): { declaredSize?: number } {
  const value = req.get("content-length");
  if (value === undefined || !/^\d{1,16}$/.test(value)) return {};
  return { declaredSize: Number(value) };
}

/** How much of a refused upload's remaining body is read and dropped, and for how long, before closing. */
export const LINGER_BYTES = 16 * 1024 * 1024;
export const LINGER_MS = 2_000;

/**
 * Runs an upload; when it fails before the body was read to the end (a refusal: too large, wrong
 * type), the connection is closed after the answer, so the client need not send (and the server
 * need not read) the rest of a large body. Not at once: closing a socket with unread bytes resets
 * it, and a client still writing its body (fetch, browsers) then sees a network error instead of
 * the 413. So the rest is read and dropped for up to LINGER_MS / LINGER_BYTES after the answer
 * (what web servers call a lingering close), then the socket is closed.
 */
export async function uploading<T>(req: Request, res: Response, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!req.complete && !res.headersSent) lingerThenClose(req, res);
    throw err;
  }
}

/**
 * A route that takes raw bytes but no form, given `multipart/form-data`: a 415 that says so (its
 * envelope would otherwise be taken for the bytes, e.g. sniffed as an image of an unknown type),
 * with the lingering close of any refused upload. Every raw-body route gets it from `mount`.
 */
export async function refuseUnacceptedForm(route: HttpRoute, req: Request, res: Response): Promise<void> {
  if (!route.rawBody || route.rawBody.multipart || !req.is("multipart/form-data")) return;
  const types = route.rawBody.contentTypes.join(", ");
  const where = `${route.method.toUpperCase()} ${openApiPath(route.path)}`;
  await uploading(req, res, async () => {
    throw new TrellisError(
      "unsupported_media_type",
      `${where} does not accept multipart/form-data; send the raw bytes as the request body (${types})`,
    );
  });
}

function lingerThenClose(req: Request, res: Response): void {
  res.setHeader("Connection", "close");
  if (req.destroyed || !req.socket) return; // the connection is gone already
  // Node ends a `Connection: close` response's socket with destroySoon() once the answer is
  // written: that call is held back until the rest of the body is drained or the linger is over.
  const socket = req.socket;
  const destroySoon = socket.destroySoon.bind(socket);
  let answered = false;
  let drained = false;
  let closed = false;
  const closeIfDone = () => {
    if (closed || !answered || !drained) return;
    closed = true;
    clearTimeout(timer);
    destroySoon();
  };
  const stopReading = () => {
    drained = true;
    closeIfDone();
  };
  const timer = setTimeout(stopReading, LINGER_MS);
  timer.unref();
  socket.destroySoon = () => {
    answered = true;
    closeIfDone();
  };
  let read = 0;
  req.on("data", (chunk: Buffer) => {
    read += chunk.length;
    if (read > LINGER_BYTES) stopReading();
  });
  req.once("end", stopReading);
  req.once("close", stopReading);
  req.resume();
}

/**
 * A small text body (a transcript), read whole: at most `limitBytes` (413 past it), UTF-8 (400
 * otherwise).
 */
export async function readText(req: Request, limitBytes: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
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
