import { JetStreamApiError } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import { errors, RequestError } from "@nats-io/transport-node";

/**
 * JetStream API error codes (nats-server's errors.json) that a JetStream cluster answers while it
 * is electing or re-placing: the same request succeeds once a leader is there (or a node is back).
 * Some are status 400, so the status alone does not tell.
 */
export const TRANSIENT_JS_CODES: readonly number[] = [
  10004, // JSClusterIncompleteErr: cluster still forming
  10005, // JSClusterNoPeersErr: no suitable peers for placement (a node of an R3 stream is down)
  10008, // JSClusterNotAvailErr: "JetStream system temporarily unavailable" (meta group has no leader)
  10009, // JSClusterNotLeaderErr: the cluster cannot handle the request (now)
  10040, // JSClusterPeerNotMemberErr: a peer not (yet) in the group
  10202, // JSClusterServerMemberChangeInflightErr: a membership change in flight
];

/**
 * Whether a JetStream request or publish that failed this way may succeed if made again: a timeout
 * (the node lost, or no stream leader to answer yet), no responders (nats.js reports it as
 * `JetStreamNotEnabled` for a publish), a 503, or a cluster-transient API error. A 4xx about the
 * request itself, a closed or draining connection are final.
 */
export function isTransientJsError(err: unknown): boolean {
  if (err instanceof errors.TimeoutError) return true;
  if (err instanceof jserrors.JetStreamNotEnabled) return true;
  if (err instanceof RequestError) return err.isNoResponders();
  if (err instanceof errors.NoRespondersError) return true;
  if (err instanceof JetStreamApiError) return err.status === 503 || TRANSIENT_JS_CODES.includes(err.code);
  if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError) return false;
  // nats.js reports a lost connection mid-request as a ConnectionError.
  return err instanceof errors.ConnectionError;
}

export interface JsRetryOptions {
  /** Give up (rethrowing the last error) once this long has passed; default 30 s. */
  deadlineMs?: number;
  /** First delay (default 100 ms), doubled per attempt up to `maxDelayMs` (default 2 s), with jitter. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Each failure that will be retried (for a log line). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/**
 * Runs `op` until it succeeds, retrying transient JetStream failures (`isTransientJsError`) with
 * capped exponential backoff and jitter until the deadline. Safe for publishes only when they carry
 * a `Nats-Msg-Id` within the stream's duplicate window: a publish that timed out may have been
 * stored, and the retry is then acknowledged as a duplicate instead of stored twice.
 */
export async function withJsRetry<T>(op: () => Promise<T>, options: JsRetryOptions = {}): Promise<T> {
  const { deadlineMs = 30_000, initialDelayMs = 100, maxDelayMs = 2_000 } = options;
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isTransientJsError(err) || options.signal?.aborted) throw err;
      const capped = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(capped / 2 + Math.random() * (capped / 2));
      if (Date.now() + delay >= giveUpAt) throw err;
      options.onRetry?.(err, attempt, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
