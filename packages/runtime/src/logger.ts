import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * Paths redacted from every log line. Whatever a handler logs by mistake, these never reach disk.
 * (`*.x` covers one level of nesting, which is where request payloads end up.)
 */
export const REDACTED_PATHS = [
  "password",
  "*.password",
  "old_password",
  "*.old_password",
  "new_password",
  "*.new_password",
  "token",
  "*.token",
  "access_token",
  "*.access_token",
  "refresh_token",
  "*.refresh_token",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
  "*.headers.cookie",
  "encoding",
  "*.encoding",
  "hash",
  "*.hash",
  "secret",
  "*.secret",
];

export interface LoggerOptions {
  service: string;
  instance: string;
  level?: string;
  destination?: DestinationStream;
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
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
