import type { z } from "zod";

/**
 * A NATS request/reply endpoint: the subject and the schemas of both messages. Servers register
 * handlers against these objects and clients call through them, so a subject and its payloads are
 * written down exactly once.
 */
export interface Endpoint<Req extends z.ZodType = z.ZodType, Rep extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly request: Req;
  readonly reply: Rep;
  readonly description: string;
}

/**
 * An endpoint whose reply is a byte stream of any size (a large JSON document, a file): a first
 * message with metadata (`meta`, validated like a reply), then chunks under the server's
 * `max_payload`, paced by the receiver. See `requestStream` / `serve` in `@trellis/runtime`.
 */
export interface StreamEndpoint<Req extends z.ZodType = z.ZodType, Meta extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly request: Req;
  readonly meta: Meta;
  /** What the bytes are, e.g. `application/json`. */
  readonly contentType: string;
  readonly description: string;
}

/**
 * An endpoint whose request carries a body of any size (a file): the request message (its
 * schema), then the bytes as chunks paced by the handler, then the reply. See `requestUpload` /
 * `serve` in `@trellis/runtime`; the handler reads `ctx.upload`.
 */
export interface UploadEndpoint<Req extends z.ZodType = z.ZodType, Rep extends z.ZodType = z.ZodType>
  extends Endpoint<Req, Rep> {
  readonly upload: true;
}

export type AnyEndpoint = Endpoint | StreamEndpoint | UploadEndpoint;

export const isStreamEndpoint = (e: AnyEndpoint): e is StreamEndpoint => "meta" in e;
export const isUploadEndpoint = (e: AnyEndpoint): e is UploadEndpoint => "upload" in e && e.upload === true;

export type RequestOf<E extends AnyEndpoint> = z.input<E["request"]>;
export type ParsedRequestOf<E extends AnyEndpoint> = z.output<E["request"]>;
export type ReplyOf<E extends Endpoint> = z.output<E["reply"]>;
export type ReplyInputOf<E extends Endpoint> = z.input<E["reply"]>;
export type MetaOf<E extends StreamEndpoint> = z.output<E["meta"]>;
export type MetaInputOf<E extends StreamEndpoint> = z.input<E["meta"]>;

/** A service's endpoints keyed by handler name. */
export type Catalog = Record<string, AnyEndpoint>;

export function endpoint<Req extends z.ZodType, Rep extends z.ZodType>(e: Endpoint<Req, Rep>): Endpoint<Req, Rep> {
  return e;
}

export function uploadEndpoint<Req extends z.ZodType, Rep extends z.ZodType>(
  e: Omit<UploadEndpoint<Req, Rep>, "upload">,
): UploadEndpoint<Req, Rep> {
  return { ...e, upload: true };
}

export function streamEndpoint<Req extends z.ZodType, Meta extends z.ZodType>(
  e: StreamEndpoint<Req, Meta>,
): StreamEndpoint<Req, Meta> {
  return e;
}
