import type { Logger } from "pino";
import type { SessionsStore } from "./store/sessions.ts";

const DAY_MS = 86_400_000;

/**
 * Deletes sessions expired or revoked more than a day ago, every `intervalMs` (no TTL indexes on
 * FerretDB). Revoked ones stay a day so `revokedSince` can still name them. Returns a stopper.
 */
export function startSessionSweeper(sessions: SessionsStore, log: Logger, intervalMs = 10 * 60_000): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sessions
      .sweep(new Date(Date.now() - DAY_MS))
      .then((deleted) => {
        if (deleted > 0) log.info({ deleted }, "old sessions swept");
      })
      .catch((err: unknown) => log.warn({ err }, "session sweep failed"))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
