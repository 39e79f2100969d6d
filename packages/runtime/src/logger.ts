import { type DestinationStream, type Logger, pino } from "pino";
import { activeTraceIds } from "./tracing.ts";

export type { Logger } from "pino";

const SECRET_KEYS = [
  "password",
  "old_password",
  "new_password",
  "oldPassword",
  "newPassword",
  "token",
  "access_token",
  "refresh_token",
  "refreshToken",
  "authorization",
  "encoding",
  "hash",
  "passwordHash",
  "secret",
  "privateKeyPem",
];

/** Where a payload ends up when someone logs it: `{ body }`, `{ request }`, ... */
const CONTAINERS = ["", "body", "payload", "request", "data", "user", "params", "query"];

/**
 * Paths redacted from every log line, whatever a handler logs by mistake. Explicit paths rather
 * than `*.x` wildcards: a wildcard made every log call ~10x slower (measured: 10.6 vs 1.1 µs), and
 * the gateway writes one line per request.
 */
export const REDACTED_PATHS = [
  ...CONTAINERS.flatMap((c) => SECRET_KEYS.map((k) => (c ? `${c}.${k}` : k))),
  "headers.authorization",
  "headers.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
];

export interface LoggerOptions {
  service: string;
  instance: string;
  level?: string;
  destination?: DestinationStream;
  /**
   * Add `trace_id` and `span_id` of the active span to every line (when tracing is on): a log
   * line leads to its trace and back. Off, no per-line work is added.
   */
  traceIds?: boolean;
}

/** JSON logs on stdout, one object per line, with `service` and `instance` on every line. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: options.service, instance: options.instance },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
      ...(options.traceIds ? { mixin: activeTraceIds } : {}),
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
