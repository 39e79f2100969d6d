import type { Logger } from "pino";

declare global {
  namespace Express {
    interface Request {
      /** The request id: the caller's `X-Request-Id` when sane, otherwise a UUID. */
      id: string;
      /** Logger carrying `reqId`, created on first use. */
      log: Logger;
    }
  }
}
