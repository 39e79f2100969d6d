import type { Collection, Filter, UpdateFilter } from "mongodb";
import type { Logger } from "pino";
import { z } from "zod";
import { env } from "./config.ts";

/**
 * A transactional outbox for events (and the idempotent side effects that go with them): what a
 * state change must announce is committed *with* that change and published after it, so a NATS
 * outage or a crash between the write and the publish delays the announcement instead of losing
 * it.
 *
 * - **Storage.** Pending entries live in *holder* documents of one collection, under
 *   `outbox.<entryId>`, with `outboxDueAt` (ms): when a sweeper may take them. An entry is written
 *   in the same document write as the state change it announces (`pendingUpdate` / `insertFields`:
 *   a conditional update that loses writes no entry), or — where the change is not one document
 *   write (a deletion) — in holders of the outbox's own collection written just before the change
 *   (`add`), and the deliverer checks that the change happened.
 * - **Delivery.** `deliver(holderId, entry)` publishes to JetStream with a `Nats-Msg-Id` derived from
 *   the entry (so a republish within the stream's duplicate window is stored once) and must be
 *   idempotent (consumers downstream are too, for a republish after the window). Once it resolves
 *   (the stream acked), the entry is removed: that is "sent". Entries of one holder are delivered in
 *   order, one chain per holder; a failure stops that holder's chain and leaves the rest pending.
 * - **Sweeper.** Every `sweepIntervalMs` it reads holders past `outboxDueAt` (an indexed query),
 *   *claims* each with one conditional update moving `outboxDueAt` forward by `claimMs` (so of two
 *   instances only one delivers a holder's entries; a dead claimer's holder is due again after it),
 *   and delivers them. An entry is the sweeper's `retryAfterMs` after its commit, so the
 *   immediate delivery (`enqueue` / `deliverNow`, right after the commit) normally wins.
 */
export interface OutboxEntry {
  /** Unique within its holder; a MongoDB field name (no `.`, no leading `$`). */
  readonly id: string;
}

export interface OutboxOptions<E extends OutboxEntry> {
  /** The holder documents. */
  // biome-ignore lint/suspicious/noExplicitAny: holders are any document with an `_id` string.
  collection: Collection<any>;
  /** Publishes the entry (with a message id derived from it) and applies its side effects; idempotent. */
  deliver: (holderId: string, entry: E) => Promise<void>;
  log: Logger;
  /** An entry still pending this long after its commit is the sweeper's. */
  retryAfterMs: number;
  sweepIntervalMs: number;
  /** How long a sweeper's claim on a holder lasts (default: 3 × retryAfterMs). */
  claimMs?: number;
  /** Delivery order within a holder (default: by id). */
  order?: (a: E, b: E) => number;
  /**
   * The collection exists only for the outbox (holders written by `add`): an emptied holder is
   * deleted rather than kept.
   */
  ownCollection?: boolean;
  /** Holders one sweep claims at most (the next sweep takes the rest). */
  sweepLimit?: number;
}

/** Environment variables of a service with an outbox. */
export const outboxConfigSchema = z.object({
  /** An event not published this long after its commit is republished by the sweeper. */
  OUTBOX_RETRY_MS: env.int(100, 600_000).default(10_000),
  /** How often each instance's sweeper looks for such events. */
  OUTBOX_SWEEP_INTERVAL_MS: env.int(50, 600_000).default(5_000),
});

/** The parts of an update that commit entries with the holder's own write (`Outbox.pendingUpdate`). */
export interface OutboxUpdate<E> {
  $set: Record<string, E>;
  $min?: { outboxDueAt: number };
}

interface Holder<E> {
  _id: string;
  outbox?: Record<string, E>;
  outboxDueAt?: number;
}

export class Outbox<E extends OutboxEntry> {
  private readonly opts: OutboxOptions<E>;
  private readonly holders: Collection<Holder<E>>;
  private readonly chains = new Map<string, Promise<void>>();
  /** Entries queued or being delivered by this instance (a sweep does not queue them twice). */
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(opts: OutboxOptions<E>) {
    this.opts = opts;
    this.holders = opts.collection as unknown as Collection<Holder<E>>;
  }

  /** The sweeper's query: holders by due time. */
  async ensureIndexes(): Promise<void> {
    await this.holders.createIndex({ outboxDueAt: 1 }, { name: "outboxDueAt", sparse: true });
  }

  private dueAt(now: number): number {
    return now + this.opts.retryAfterMs;
  }

  /**
   * The parts of an update that commit `entries` with the caller's own write of the holder:
   * spread `$set` into the update's `$set` and add `$min` (an earlier due time is kept).
   */
  pendingUpdate(entries: readonly E[], now = Date.now()): OutboxUpdate<E> {
    if (entries.length === 0) return { $set: {} };
    return {
      $set: Object.fromEntries(entries.map((e) => [`outbox.${e.id}`, e])),
      $min: { outboxDueAt: this.dueAt(now) },
    };
  }

  /** The fields that commit `entries` with the insert of a new holder. */
  insertFields(entries: readonly E[], now = Date.now()): { outbox: Record<string, E>; outboxDueAt?: number } {
    if (entries.length === 0) return { outbox: {} };
    return { outbox: Object.fromEntries(entries.map((e) => [e.id, e])), outboxDueAt: this.dueAt(now) };
  }

  /**
   * Writes entries on their own, in a holder of the outbox's collection: before the change they
   * announce (whose deliverer then checks the change happened).
   */
  async add(holderId: string, entries: readonly E[], now = Date.now()): Promise<void> {
    if (entries.length === 0) return;
    const update = this.pendingUpdate(entries, now) as UpdateFilter<Holder<E>>;
    await this.holders.updateOne({ _id: holderId } as Filter<Holder<E>>, update, { upsert: true });
  }

  /** Takes back entries written by `add` whose change did not happen (the caller knows). */
  async discard(holderId: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.holders.updateOne(
      { _id: holderId } as Filter<Holder<E>>,
      {
        $unset: Object.fromEntries(ids.map((id) => [`outbox.${id}`, ""])),
      } as UpdateFilter<Holder<E>>,
    );
    await this.tidy(holderId);
  }

  /** Delivers committed entries in order, without making the caller wait; failures are left to the sweeper. */
  enqueue(holderId: string, entries: readonly E[]): Promise<void> {
    const fresh = entries.filter((e) => !this.inFlight.has(key(holderId, e.id)));
    if (fresh.length === 0) return this.chains.get(holderId) ?? Promise.resolve();
    for (const e of fresh) this.inFlight.add(key(holderId, e.id));
    const sorted = [...fresh].sort(this.opts.order ?? ((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    const prev = this.chains.get(holderId) ?? Promise.resolve();
    const next = prev.then(async () => {
      let failed = false;
      for (const e of sorted) {
        try {
          if (!failed) await this.deliverOne(holderId, e);
        } catch (err) {
          failed = true;
          this.opts.log.warn({ err, holderId, entry: e.id }, "event not published yet; the outbox sweeper retries");
        } finally {
          this.inFlight.delete(key(holderId, e.id));
        }
      }
      if (!failed) await this.tidy(holderId).catch(() => {});
    });
    this.chains.set(holderId, next);
    void next.finally(() => {
      if (this.chains.get(holderId) === next) this.chains.delete(holderId);
    });
    return next;
  }

  /** `enqueue`, awaited: resolves once the entries are delivered or left to the sweeper (never rejects). */
  deliverNow(holderId: string, entries: readonly E[]): Promise<void> {
    return this.enqueue(holderId, entries);
  }

  private async deliverOne(holderId: string, entry: E): Promise<void> {
    await this.opts.deliver(holderId, entry);
    // Sent: the stream acked (or the deliverer found nothing to announce).
    await this.holders.updateOne(
      { _id: holderId } as Filter<Holder<E>>,
      {
        $unset: { [`outbox.${entry.id}`]: "" },
      } as UpdateFilter<Holder<E>>,
    );
  }

  /** A holder with no entry left: no longer due (or, in the outbox's own collection, gone). */
  private async tidy(holderId: string): Promise<void> {
    const empty = { _id: holderId, outbox: {} } as Filter<Holder<E>>;
    if (this.opts.ownCollection) await this.holders.deleteOne(empty);
    else await this.holders.updateOne(empty, { $unset: { outboxDueAt: "" } } as UpdateFilter<Holder<E>>);
  }

  /**
   * One pass: claims the holders that are due and delivers their entries (awaited). Returns how
   * many holders this instance claimed.
   */
  async sweep(now = Date.now()): Promise<number> {
    const due = await this.holders
      .find({ outboxDueAt: { $lte: now } } as Filter<Holder<E>>, { projection: { outbox: 1, outboxDueAt: 1 } })
      .sort({ outboxDueAt: 1 })
      .limit(this.opts.sweepLimit ?? 200)
      .toArray();
    let claimed = 0;
    const deliveries: Promise<void>[] = [];
    for (const holder of due) {
      if (this.stopped) break;
      const res = await this.holders.updateOne(
        { _id: holder._id, outboxDueAt: holder.outboxDueAt } as Filter<Holder<E>>,
        { $set: { outboxDueAt: now + (this.opts.claimMs ?? 3 * this.opts.retryAfterMs) } } as UpdateFilter<Holder<E>>,
      );
      if (res.modifiedCount !== 1) continue; // another instance claimed it
      claimed += 1;
      const entries = Object.values(holder.outbox ?? {});
      if (entries.length === 0) await this.tidy(holder._id);
      else {
        this.opts.log.info({ holderId: holder._id, entries: entries.map((e) => e.id) }, "republishing pending events");
        deliveries.push(this.enqueue(holder._id, entries));
      }
    }
    await Promise.all(deliveries);
    return claimed;
  }

  /** Sweeps every `sweepIntervalMs` (the first pass at once: entries a previous process left). */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.sweeping = this.sweep()
        .catch((err: unknown) => this.opts.log.warn({ err }, "outbox sweep failed"))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.sweepIntervalMs);
        });
    };
    tick();
  }

  /** Stops sweeping and waits for the deliveries in hand (shutdown). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping;
    await this.idle();
  }

  /** Waits for every delivery chain. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }
}

const key = (holderId: string, entryId: string) => `${holderId}\u0000${entryId}`;
