import { randomUUID } from "node:crypto";
import { HTTP_REQUEST_ID_HEADER } from "@trellis/contracts";
import { annotateActiveSpan } from "@trellis/runtime";
import type { RequestHandler } from "express";

const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes the caller's `X-Request-Id` when it is sane, otherwise makes one; echoes it back (and puts it on the trace's HTTP span). */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get(HTTP_REQUEST_ID_HEADER);
  const id = given && ACCEPTABLE.test(given) ? given : randomUUID();
  req.id = id;
  res.setHeader(HTTP_REQUEST_ID_HEADER, id);
  // The request id stays the key of the logs; on the HTTP span (tracing on) it links the two.
  annotateActiveSpan({ "trellis.request_id": id });
  next();
};
