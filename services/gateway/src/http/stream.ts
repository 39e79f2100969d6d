import type { IncomingStream } from "@trellis/runtime";
import type { Request, Response } from "express";

/** Writes a chunk, waiting for 'drain' when the socket's buffer is full; rejects if the client leaves. */
export function write(res: Response, chunk: string | Uint8Array): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error("the client went away"));
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      res.off("drain", onDrain);
      reject(new Error("the client went away"));
    };
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

/**
 * Sends a service's byte stream as the response body, at the client's pace: the next chunk is
 * asked for (and so granted to the service) only once the socket has taken the previous one, so
 * memory stays at one flow-control window whatever the size. A client that leaves stops the
 * service. A failure after the first byte can only be signalled by cutting the connection (the
 * client sees a truncated body, never a well-formed wrong one).
 */
export async function sendStream(
  req: Request,
  res: Response,
  stream: Pick<IncomingStream<unknown>, "chunks" | "cancel">,
  options: { status: number; contentType: string; prefix?: string; suffix?: string; headers?: Record<string, string> },
): Promise<void> {
  const onClose = () => stream.cancel("the HTTP client went away");
  res.once("close", onClose);
  res.status(options.status);
  res.setHeader("Content-Type", options.contentType);
  for (const [k, v] of Object.entries(options.headers ?? {})) res.setHeader(k, v);
  try {
    if (options.prefix) await write(res, options.prefix);
    for await (const chunk of stream.chunks) await write(res, chunk);
    if (options.suffix) await write(res, options.suffix);
    res.end();
  } catch (err) {
    stream.cancel("the response failed");
    if (!res.destroyed) {
      req.log.warn({ err }, "stream failed mid-response");
      res.destroy();
    }
  } finally {
    res.off("close", onClose);
  }
}
