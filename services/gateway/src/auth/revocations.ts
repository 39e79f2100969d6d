import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { authCatalog, authEvents } from "@trellis/contracts";
import { decodeJson, request } from "@trellis/runtime";
import type { Logger } from "pino";

/**
 * Sessions revoked recently. Access tokens are verified locally, so a logout must reach every
 * gateway: auth publishes `sessions_revoked` and each gateway adds the ids here at once. On start
 * and after every reconnect the list is rebuilt from auth (`revoked_since`), so an event missed
 * while disconnected still counts. Ids are kept for `retentionMs` (longer than any access token lives).
 */
export class Revocations {
  private readonly revoked = new Map<string, number>();
  private readonly listeners = new Set<(sessionIds: string[]) => void>();
  private sub: Subscription | undefined;
  private synced = false;
  private onSynced: (() => void) | undefined;
  private readonly syncedOnce = new Promise<void>((resolve) => {
    this.onSynced = resolve;
  });
  private stopped = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly retentionMs: number;

  constructor(nc: NatsConnection, log: Logger, retentionMs: number) {
    this.nc = nc;
    this.log = log;
    this.retentionMs = retentionMs;
  }

  /** False until the first rebuild from auth succeeded; until then no access token can be trusted. */
  get ready(): boolean {
    return this.synced;
  }

  /**
   * Resolves true once the list is synced, or false after `timeoutMs`: the gateway waits for it
   * at start so that it does not answer 503 to every access token in its first moments (while
   * auth is down it starts anyway, and access tokens get 503 until auth answers).
   */
  async whenSynced(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.syncedOnce.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  has(sessionId: string): boolean {
    return this.revoked.has(sessionId);
  }

  /** Called with the ids of every revocation, e.g. to drop cached v1 tokens. */
  onRevoked(listener: (sessionIds: string[]) => void): void {
    this.listeners.add(listener);
  }

  private add(sessionIds: string[], at = Date.now()): void {
    for (const id of sessionIds) this.revoked.set(id, at);
    for (const listener of this.listeners) listener(sessionIds);
  }

  /** Subscribes at once; rebuilds from auth in the background, retrying every second until it answers. */
  start(): void {
    this.sub = this.nc.subscribe(authEvents.sessionsRevoked.subject, {
      callback: (err, msg) => {
        if (err) return;
        const event = authEvents.sessionsRevoked.schema.safeParse(decodeJson(msg.data));
        if (event.success) this.add(event.data.sessionIds);
        else this.log.warn({ issues: event.error.issues }, "malformed sessions_revoked event ignored");
      },
    });
    void this.syncUntilDone();
    void (async () => {
      for await (const status of this.nc.status()) {
        if (this.stopped) break;
        if (status.type === "reconnect") void this.syncUntilDone();
      }
    })();
    this.pruneTimer = setInterval(() => this.prune(), 60_000);
    this.pruneTimer.unref();
  }

  private async syncUntilDone(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const since = Date.now() - this.retentionMs;
        const { sessionIds } = await request(this.nc, authCatalog.revokedSince, { since }, { timeoutMs: 5_000 });
        this.add(sessionIds);
        if (!this.synced) this.log.info({ revoked: this.revoked.size }, "revocation list synced");
        this.synced = true;
        this.onSynced?.();
        return;
      } catch (err) {
        if (attempt % 10 === 0)
          this.log.warn({ err: (err as Error).message }, "revocation list not synced yet; retrying");
        await new Promise((r) => setTimeout(r, 1_000).unref());
      }
    }
  }

  private prune(): void {
    const cutoff = Date.now() - this.retentionMs;
    for (const [id, at] of this.revoked) if (at < cutoff) this.revoked.delete(id);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pruneTimer);
    this.sub?.unsubscribe();
  }
}
