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

export type RequestOf<E extends Endpoint> = z.input<E["request"]>;
export type ParsedRequestOf<E extends Endpoint> = z.output<E["request"]>;
export type ReplyOf<E extends Endpoint> = z.output<E["reply"]>;
export type ReplyInputOf<E extends Endpoint> = z.input<E["reply"]>;

/** A service's endpoints keyed by handler name. */
export type Catalog = Record<string, Endpoint>;

export function endpoint<Req extends z.ZodType, Rep extends z.ZodType>(e: Endpoint<Req, Rep>): Endpoint<Req, Rep> {
  return e;
}
