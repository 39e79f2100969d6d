import type { JetStreamClient } from "@nats-io/jetstream";
import { liveSubjects, type PresenceChange, presenceEvents } from "@trellis/contracts";
import { type EventPublisher, encodeJson, withJsRetry } from "@trellis/runtime";
import type { Logger } from "pino";
import type { SeenMonitor } from "../ingest/readings-consumer.ts";
import type { PresenceCandidate, PresenceStore } from "../store/presence.ts";

export interface PresenceTrackerOptions {
  store: PresenceStore;
  events: EventPublisher;
  js: JetStreamClient;
  log: Logger;
  /** Global inactivity timeout (a monitor's `offlineAfterSeconds` overrides it). */
  offlineAfterSeconds: number;
  sweepIntervalMs: number;
  /** Most monitors one sweep query returns (the next sweep takes the rest). */
  sweepLimit?: number;
  /** Called with each claimed transition after it is published (offline alarms). */
  onChange?: (change: PresenceChange) => Promise<void>;
}

/**
 * Offline detection. Ingest writes each monitor's `lastSeenAt` and `offlineDueAt` with the round's
 * monitor update (no extra write); this tracker
 * - claims `online` for monitors a round saw while they were not online (called by ingest, off
 *   its path), and
 * - sweeps every `sweepIntervalMs` for online monitors past `offlineDueAt` (an indexed range
 *   query, bounded) and claims `offline` for them.
 * A claim is one conditional update, so with several instances each transition is announced
 * once: `monitor_offline` / `monitor_online` on `TELEMETRY_EVENTS`, and the same `PresenceChange`
 * on the live subject `telemetry.v1.live.<id>.presence`.
 */
export class PresenceTracker {
  private readonly opts: PresenceTrackerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly pending = new Set<Promise<void>>();
  private stopping = false;

  constructor(opts: PresenceTrackerOptions) {
    this.opts = opts;
  }

  start(): void {
    const tick = () => {
      if (this.stopping) return;
      this.running = this.sweep()
        .catch((err: unknown) => this.opts.log.error({ err }, "presence sweep failed"))
        .finally(() => {
          if (!this.stopping) this.timer = setTimeout(tick, this.opts.sweepIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.sweepIntervalMs);
  }

  /** Stops sweeping and waits for the sweep and claims in hand. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.allSettled([...this.pending]);
  }

  /** Ingest's hook: monitors a round saw that were not online. Not awaited by ingest. */
  seen(monitors: readonly SeenMonitor[]): void {
    if (this.stopping) return;
    const p = (async () => {
      for (const m of monitors) {
        const now = Date.now();
        if (await this.opts.store.claimOnline(m.monitorId, now)) {
          await this.announce(
            "online",
            {
              _id: m.monitorId,
              ownerId: m.ownerId,
              lastSeenAt: m.lastSeen,
              offlineAfterSeconds: m.offlineAfterSeconds,
            },
            now,
          );
        }
      }
    })()
      .catch((err: unknown) => this.opts.log.error({ err }, "presence online claim failed (the sweeper retries)"))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** One pass: overdue monitors go offline; monitors seen again but not marked online go online. */
  async sweep(): Promise<{ offline: number; online: number }> {
    const { store } = this.opts;
    const limit = this.opts.sweepLimit ?? 500;
    let offline = 0;
    let online = 0;
    const now = Date.now();
    for (const m of await store.overdue(now, limit)) {
      if (this.stopping) break;
      if (await store.claimOffline(m._id, now)) {
        offline += 1;
        await this.announce("offline", m, now);
      }
    }
    for (const m of await store.backOnline(now, limit)) {
      if (this.stopping) break;
      if (await store.claimOnline(m._id, now)) {
        online += 1;
        await this.announce("online", m, now);
      }
    }
    if (offline + online > 0) this.opts.log.info({ offline, online }, "presence changes claimed by the sweeper");
    return { offline, online };
  }

  private async announce(
    state: PresenceChange["state"],
    m: Pick<PresenceCandidate, "_id" | "ownerId" | "lastSeenAt" | "offlineAfterSeconds">,
    claimedAt: number,
  ): Promise<void> {
    const change: PresenceChange = {
      monitorId: m._id,
      ownerId: m.ownerId,
      state,
      lastSeen: m.lastSeenAt ?? null,
      offlineAfterSeconds: m.offlineAfterSeconds ?? this.opts.offlineAfterSeconds,
      at: new Date(claimedAt).toISOString(),
    };
    const event = state === "offline" ? presenceEvents.monitorOffline : presenceEvents.monitorOnline;
    this.opts.log.info({ monitorId: m._id, state, lastSeen: change.lastSeen }, `monitor ${state}`);
    await this.opts.events.publish(event, change, `monitor_${state}:${m._id}:${claimedAt}`);
    await this.publishLive(change);
    await this.opts
      .onChange?.(change)
      .catch((err: unknown) =>
        this.opts.log.error({ err, monitorId: m._id, state }, "presence change not turned into an alarm"),
      );
  }

  /** To the live stream (telemetry creates TELEMETRY_LIVE at start): stored and replayable for SSE clients. */
  private async publishLive(change: PresenceChange): Promise<void> {
    const bytes = encodeJson(change);
    const msgID = `presence:${change.monitorId}:${change.at}`;
    await withJsRetry(() => this.opts.js.publish(liveSubjects.of(change.monitorId, "presence"), bytes, { msgID }));
  }
}
