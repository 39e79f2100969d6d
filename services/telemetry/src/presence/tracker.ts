import type { JetStreamClient } from "@nats-io/jetstream";
import { liveSubjects, type PresenceChange, presenceEvents } from "@trellis/contracts";
import { type EventPublisher, encodeJson, Outbox } from "@trellis/runtime";
import type { Logger } from "pino";
import type { SeenMonitor } from "../ingest/readings-consumer.ts";
import type { PresenceEntry } from "../store/monitors.ts";
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
  /** Called with each claimed transition after it is published (offline alarms); idempotent, retried until it succeeds. */
  onChange?: (change: PresenceChange) => Promise<void>;
  /** The outbox of claimed transitions: retry after, sweep interval (ms). */
  outboxRetryMs: number;
  outboxSweepIntervalMs: number;
}

/**
 * Offline detection. Ingest writes each monitor's `lastSeenAt` and `offlineDueAt` with the round's
 * monitor update (no extra write); this tracker
 * - claims `online` for monitors a round saw while they were not online (called by ingest, off
 *   its path), and
 * - sweeps every `sweepIntervalMs` for online monitors past `offlineDueAt` (an indexed range
 *   query, bounded) and claims `offline` for them.
 * A claim is one conditional update, so with several instances each transition is announced
 * once: `monitor_offline` / `monitor_online` on `TELEMETRY_EVENTS`, the same `PresenceChange`
 * on the live subject `telemetry.v1.live.<id>.presence`, and its offline alarm (`onChange`). The
 * announcement is a runtime `Outbox` entry committed by the claim's own update (in the monitor's
 * document) and delivered right after it, or by the outbox's sweeper after a NATS outage or a
 * crash; message ids derived from the transition make a repeat a no-op.
 */
export class PresenceTracker {
  private readonly opts: PresenceTrackerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly pending = new Set<Promise<void>>();
  private stopping = false;
  readonly outbox: Outbox<PresenceEntry>;

  constructor(opts: PresenceTrackerOptions) {
    this.opts = opts;
    this.outbox = new Outbox<PresenceEntry>({
      collection: opts.store.monitors,
      deliver: (_monitorId, entry) => this.deliver(entry.change),
      log: opts.log,
      retryAfterMs: opts.outboxRetryMs,
      sweepIntervalMs: opts.outboxSweepIntervalMs,
      order: (a, b) => Date.parse(a.change.at) - Date.parse(b.change.at) || (a.id < b.id ? -1 : 1),
    });
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
    this.outbox.start();
  }

  /** Stops sweeping and waits for the sweep and claims in hand. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.allSettled([...this.pending]);
    await this.outbox.stop();
  }

  /** Ingest's hook: monitors a round saw that were not online. Not awaited by ingest. */
  seen(monitors: readonly SeenMonitor[]): void {
    if (this.stopping) return;
    const p = (async () => {
      for (const m of monitors) {
        const now = Date.now();
        const entry = this.entryOf(
          "online",
          { _id: m.monitorId, ownerId: m.ownerId, lastSeenAt: m.lastSeen, offlineAfterSeconds: m.offlineAfterSeconds },
          now,
        );
        if (await this.opts.store.claimOnline(m.monitorId, now, this.outbox.pendingUpdate([entry], now))) {
          await this.announce(entry);
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
      const entry = this.entryOf("offline", m, now);
      if (await store.claimOffline(m._id, now, this.outbox.pendingUpdate([entry], now))) {
        offline += 1;
        await this.announce(entry);
      }
    }
    for (const m of await store.backOnline(now, limit)) {
      if (this.stopping) break;
      const entry = this.entryOf("online", m, now);
      if (await store.claimOnline(m._id, now, this.outbox.pendingUpdate([entry], now))) {
        online += 1;
        await this.announce(entry);
      }
    }
    if (offline + online > 0) this.opts.log.info({ offline, online }, "presence changes claimed by the sweeper");
    return { offline, online };
  }

  /** The announcement of a transition, committed with its claim. */
  private entryOf(
    state: PresenceChange["state"],
    m: Pick<PresenceCandidate, "_id" | "ownerId" | "lastSeenAt" | "offlineAfterSeconds">,
    claimedAt: number,
  ): PresenceEntry {
    const change: PresenceChange = {
      monitorId: m._id,
      ownerId: m.ownerId,
      state,
      lastSeen: m.lastSeenAt ?? null,
      offlineAfterSeconds: m.offlineAfterSeconds ?? this.opts.offlineAfterSeconds,
      at: new Date(claimedAt).toISOString(),
    };
    return { id: `${state}-${claimedAt}`, change };
  }

  /** A claimed transition: logged, then delivered (or left to the outbox's sweeper; never throws). */
  private async announce(entry: PresenceEntry): Promise<void> {
    const { change } = entry;
    this.opts.log.info(
      { monitorId: change.monitorId, state: change.state, lastSeen: change.lastSeen },
      `monitor ${change.state}`,
    );
    await this.outbox.deliverNow(change.monitorId, [entry]);
  }

  /** The event, the live event and the offline alarm of a transition, each idempotent (message ids from the transition). */
  private async deliver(change: PresenceChange): Promise<void> {
    const event = change.state === "offline" ? presenceEvents.monitorOffline : presenceEvents.monitorOnline;
    const claimedAt = Date.parse(change.at);
    await this.opts.events.publish(event, change, `monitor_${change.state}:${change.monitorId}:${claimedAt}`);
    await this.publishLive(change);
    await this.opts.onChange?.(change);
  }

  /** To the live stream (telemetry creates TELEMETRY_LIVE at start): stored and replayable for SSE clients. */
  private async publishLive(change: PresenceChange): Promise<void> {
    await this.opts.js.publish(liveSubjects.of(change.monitorId, "presence"), encodeJson(change), {
      msgID: `presence:${change.monitorId}:${change.at}`,
    });
  }
}
