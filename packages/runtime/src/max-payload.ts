import { PubHeaders } from "@nats-io/jetstream";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";

/** The code of {@link MaxPayloadExceededError}. */
export const MAX_PAYLOAD_EXCEEDED = "max_payload_exceeded";

/**
 * A message larger than the server's `max_payload` (its data and encoded headers), refused before
 * it is sent. nats.js refuses it too, but with a plain `InvalidArgumentError` told apart only by
 * its wording, so callers check the size first ({@link assertFitsMaxPayload}) and know the failure
 * by this class.
 */
export class MaxPayloadExceededError extends Error {
  override readonly name = "MaxPayloadExceededError";
  readonly code = MAX_PAYLOAD_EXCEEDED;
  readonly size: number;
  readonly maxPayload: number;

  constructor(size: number, maxPayload: number) {
    super(`the message (${size} bytes) is larger than the server's max_payload (${maxPayload} bytes)`);
    this.size = size;
    this.maxPayload = maxPayload;
  }
}

export const isMaxPayloadExceeded = (err: unknown): err is MaxPayloadExceededError =>
  err instanceof MaxPayloadExceededError;

/**
 * Throws {@link MaxPayloadExceededError} when `data` with `headers` would not fit in one message:
 * nats.js's own rule (data + encoded headers > the server's `max_payload`), checked before it is
 * applied. `maxPayload` is `nc.info?.max_payload` (undefined before the first connect: no check).
 */
export function assertFitsMaxPayload(maxPayload: number | undefined, data: Uint8Array, headers?: MsgHdrs): void {
  if (maxPayload === undefined) return;
  // nats.js encodes headers as their toString() in UTF-8 (`encode()` is not on the MsgHdrs type).
  const size = data.length + (headers ? Buffer.byteLength(headers.toString()) : 0);
  if (size > maxPayload) throw new MaxPayloadExceededError(size, maxPayload);
}

/**
 * The headers nats.js puts on a JetStream publish with `msgID` (`Nats-Msg-Id`) and the publish's
 * own `headers` (a trace context), to size it.
 */
export function jsPublishHeaders(msgID: string, headers?: MsgHdrs): MsgHdrs {
  const h = natsHeaders();
  for (const key of headers?.keys() ?? []) h.set(key, headers?.get(key) ?? "");
  h.set(PubHeaders.MsgIdHdr, msgID);
  return h;
}
