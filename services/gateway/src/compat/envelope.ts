import type { IncomingStream } from "@trellis/runtime";
import type { Request, Response } from "express";
import { sendStream } from "../http/stream.ts";

/** Seed 002's success envelope, `{ success: true, data }` (failures get theirs in `http/errors.ts`). */
export const ok = <T>(data: T) => ({ status: 200 as const, body: { success: true as const, data } });

/** The same envelope around a service's JSON stream (replies that grow with the data). */
export function sendOkStream(req: Request, res: Response, stream: IncomingStream<unknown>): Promise<void> {
  return sendStream(req, res, stream, {
    status: 200,
    contentType: "application/json; charset=utf-8",
    prefix: '{"success":true,"data":',
    suffix: "}",
  });
}
