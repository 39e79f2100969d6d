/**
 * Delivers commands to devices and walks them through their states. A delivery is a NATS request
 * on the device's commands subject with a reply inbox of this instance; whether anyone listens is
 * known at once (the server answers "no responders" before the PONG of the flush that follows the
 * publish). Every state change is a conditional update of the command's document (only from the
 * state it was seen in, and a pending command only by the holder of its delivery lease), so with
 * several telemetry instances a command is delivered once and finished once, and each change is
 * published once as an event.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  type Command,
  Command as CommandSchema,
  commandEvents,
  type DeviceCommand,
  deviceSubjects,
  TERMINAL_COMMAND_STATES,
} from "@trellis/contracts";
import type { EventPublisher } from "@trellis/runtime";
import type { Logger } from "pino";
import {
  type AnswerOutcome,
  DEVICE_OFFLINE,
  expiredError,
  interpretAnswer,
  noAnswerError,
} from "../domain/commands.ts";
import { commandView } from "../handlers/command-view.ts";
import type { CommandDoc, CommandsStore } from "../store/commands.ts";

export interface DispatcherOptions {
  nc: NatsConnection;
  store: CommandsStore;
  events: EventPublisher;
  log: Logger;
  instance: string;
  /** How often pending persistent commands are retried, expiries and overdue answers checked. */
  retryIntervalMs: number;
}

/** How long a delivery attempt holds a pending command (an attempt is a publish, a flush and a write). */
export const COMMAND_LEASE_MS = 5_000;
/** Commands handled per sweep step. */
const SWEEP_BATCH = 100;
/** Most monitors whose readings are watched for a sign of life. */
const MAX_WATCHED = 10_000;
/** A device seen publishing triggers delivery at most this often. */
const KICK_INTERVAL_MS = 1_000;
/** How long a delivery waits for the answer before it records `delivered` on its own. */
const EARLY_ANSWER_WAIT_MS = 2;
/** The sweep leaves an overdue answer this long to the instance waiting for it. */
const OVERDUE_GRACE_MS = 1_000;

type Answer = { kind: "message"; msg: Msg } | { kind: "timeout" } | { kind: "stopped" };

/** What an answer (or its absence) makes of a delivered command. */
function outcomeOf(got: Exclude<Answer, { kind: "stopped" }>, timeoutMs: number): AnswerOutcome {
  if (got.kind === "timeout") return { state: "failed", error: noAnswerError(timeoutMs) };
  if (got.msg.headers?.code === 503) return { state: "failed", error: DEVICE_OFFLINE };
  return interpretAnswer(got.msg.data);
}

const finalState = (outcome: AnswerOutcome): Partial<CommandDoc> =>
  outcome.state === "succeeded"
    ? { state: "succeeded", finishedAt: new Date(), result: outcome.result, error: null }
    : { state: "failed", finishedAt: new Date(), error: outcome.error };

export class CommandDispatcher {
  private readonly o: DispatcherOptions & { leaseMs: number };
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private stopped = false;
  /** Readings subscriptions of monitors with a persistent command waiting. */
  private readonly watches = new Map<string, Subscription>();
  private readonly lastKick = new Map<string, number>();
  /** Per monitor: the delivery run in progress, and whether another was asked for meanwhile. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly rerun = new Set<string>();
  /** Answers being waited for: stopped (left to the sweep of another instance) on shutdown. */
  private readonly waiting = new Set<() => void>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Requests waiting (`wait=true`) for a command of this instance to finish. */
  private readonly followers = new Map<string, (c: Command) => void>();

  constructor(options: DispatcherOptions) {
    this.o = { ...options, leaseMs: COMMAND_LEASE_MS };
  }

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.o.retryIntervalMs);
    void this.sweep();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const stop of this.waiting) stop();
    for (const sub of this.watches.values()) sub.unsubscribe();
    this.watches.clear();
    await Promise.allSettled([this.sweeping, ...this.running.values(), ...this.inFlight]);
  }

  /**
   * Tries to deliver a command whose lease this instance holds. Returns it after the attempt:
   * `delivered` (its answer is awaited in the background), `failed` (non-persistent, nobody
   * listening) or `pending` (persistent, retried later and when its device is seen).
   */
  async deliver(claimed: CommandDoc): Promise<CommandDoc> {
    const { nc, store, instance } = this.o;
    let settle!: (a: Answer) => void;
    const answer = new Promise<Answer>((resolve) => {
      settle = resolve;
    });
    let noResponders = false;
    let early: Msg | undefined;
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, {
      max: 1,
      callback: (err, msg) => {
        if (err) return settle({ kind: "stopped" });
        if (msg.headers?.code === 503) noResponders = true;
        else early = msg;
        settle({ kind: "message", msg });
      },
    });
    const payload: DeviceCommand = { id: claimed._id, name: claimed.name, params: claimed.params };
    try {
      nc.publish(deviceSubjects.commands(claimed.monitorId), JSON.stringify(payload), { reply: inbox });
      await nc.flush();
    } catch (err) {
      sub.unsubscribe();
      throw err;
    }
    if (noResponders) return this.undeliverable(claimed);
    // A connected device usually answers within a millisecond or two: waiting that long for it
    // saves the separate `delivered` write (a slow device's is only that much later).
    if (!early) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([answer, new Promise((r) => (timer = setTimeout(r, EARLY_ANSWER_WAIT_MS)))]);
      clearTimeout(timer);
    }
    const now = new Date();
    const answerBy = new Date(now.getTime() + claimed.timeoutMs);
    if (early) {
      // The device has answered already (the usual case): one write records delivery and
      // outcome; both events are still published, in order.
      const finished = await store.transition(
        claimed,
        { state: "pending", claimedBy: instance },
        { deliveredAt: now, answerBy, ...finalState(outcomeOf({ kind: "message", msg: early }, claimed.timeoutMs)) },
      );
      if (!finished) return (await store.get(claimed._id)) ?? claimed;
      this.track(
        this.announce({ ...finished, state: "delivered", finishedAt: null, result: undefined, error: null }).then(() =>
          this.announce(finished),
        ),
      );
      return finished;
    }

    const delivered = await store.transition(
      claimed,
      { state: "pending", claimedBy: instance },
      { state: "delivered", deliveredAt: now, answerBy },
    );
    if (!delivered) {
      // It moved on meanwhile (expired under a lapsed lease): its answer is not ours to record.
      sub.unsubscribe();
      return (await store.get(claimed._id)) ?? claimed;
    }
    // Not awaited: the answer may be here already. Published before the final state's event
    // (JetStream publishes leave this connection in call order).
    this.track(this.announce(delivered));
    this.track(this.awaitAnswer(delivered, answer, settle, sub));
    return delivered;
  }

  /** Takes the lease of a stored pending command and delivers it; null when another instance has it. */
  async claimAndDeliver(id: string): Promise<CommandDoc | null> {
    const claimed = await this.o.store.claim(id, this.o.instance, new Date(), this.o.leaseMs);
    return claimed ? this.deliver(claimed) : null;
  }

  /**
   * Resolves with the command once an event says it is finished, or with undefined at `until`.
   * Subscribe before the command can change (before it is stored), then call `result`.
   */
  follow(monitorId: string, commandId: string): { result(until: number): Promise<Command | undefined>; close(): void } {
    let finished: Command | undefined;
    let wake: (() => void) | undefined;
    const seen = (c: Command) => {
      if (finished || !TERMINAL_COMMAND_STATES.includes(c.state)) return;
      finished = c;
      wake?.();
    };
    // Changes made here are seen at once; those of other instances arrive as events.
    this.followers.set(commandId, seen);
    const sub = this.o.nc.subscribe(commandEvents.stateChanged.subject(monitorId, commandId), {
      callback: (err, msg) => {
        if (err) return;
        const event = CommandSchema.safeParse(msg.json());
        if (event.success) seen(event.data);
      },
    });
    const close = () => {
      sub.unsubscribe();
      this.followers.delete(commandId);
    };
    return {
      result: async (until) => {
        if (!finished) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(0, until - Date.now()));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        close();
        return finished;
      },
      close,
    };
  }

  /** Watches a monitor's readings: a device seen publishing gets its waiting commands at once. */
  watch(monitorId: string): void {
    if (this.stopped || this.watches.has(monitorId) || this.watches.size >= MAX_WATCHED) return;
    const sub = this.o.nc.subscribe(deviceSubjects.readings(monitorId), {
      callback: () => {
        const now = Date.now();
        if (now - (this.lastKick.get(monitorId) ?? 0) < KICK_INTERVAL_MS) return;
        this.lastKick.set(monitorId, now);
        this.kick(monitorId);
      },
    });
    this.watches.set(monitorId, sub);
  }

  private unwatch(monitorId: string): void {
    this.watches.get(monitorId)?.unsubscribe();
    this.watches.delete(monitorId);
    this.lastKick.delete(monitorId);
  }

  /**
   * Delivers a monitor's waiting commands in the order they were sent; one run per monitor at a
   * time. A command leased by another instance stops this run: that instance is going through the
   * same list, so the device receives them in order.
   */
  private kick(monitorId: string): void {
    if (this.stopped) return;
    if (this.running.has(monitorId)) {
      this.rerun.add(monitorId);
      return;
    }
    const run = (async () => {
      do {
        this.rerun.delete(monitorId);
        const waiting = await this.o.store.due(new Date(), SWEEP_BATCH, monitorId);
        if (waiting.length === 0) this.unwatch(monitorId);
        for (const c of waiting) {
          const after = await this.claimAndDeliver(c._id);
          // Another instance holds this one: it goes on with the later ones, in the order sent.
          if (after === null) break;
          if (after.state === "pending") break; // still unreachable: the later ones would be too
        }
      } while (this.rerun.has(monitorId) && !this.stopped);
    })()
      .catch((err: unknown) => this.o.log.warn({ err, monitorId }, "command delivery failed"))
      .finally(() => this.running.delete(monitorId));
    this.running.set(monitorId, run);
  }

  /** Nobody listens on the device's subject: fail fast, or wait for the device (persistent). */
  private async undeliverable(claimed: CommandDoc): Promise<CommandDoc> {
    const { store, instance } = this.o;
    const now = new Date();
    if (claimed.persistent) {
      const released = await store.transition(
        claimed,
        { state: "pending", claimedBy: instance },
        { nextAttemptAt: new Date(now.getTime() + this.o.retryIntervalMs) },
      );
      this.watch(claimed.monitorId);
      return released ?? (await store.get(claimed._id)) ?? claimed;
    }
    const failed = await store.transition(
      claimed,
      { state: "pending", claimedBy: instance },
      { state: "failed", finishedAt: now, error: DEVICE_OFFLINE },
    );
    if (failed) await this.announce(failed);
    return failed ?? (await store.get(claimed._id)) ?? claimed;
  }

  private async awaitAnswer(
    delivered: CommandDoc,
    answer: Promise<Answer>,
    settle: (a: Answer) => void,
    sub: Subscription,
  ): Promise<void> {
    const timer = setTimeout(() => settle({ kind: "timeout" }), delivered.timeoutMs);
    const stop = () => settle({ kind: "stopped" });
    this.waiting.add(stop);
    const got = await answer;
    clearTimeout(timer);
    this.waiting.delete(stop);
    sub.unsubscribe();
    if (got.kind === "stopped") return; // the sweep of a live instance fails it once it is overdue
    const finished = await this.o.store.transition(
      delivered,
      { state: "delivered" },
      finalState(outcomeOf(got, delivered.timeoutMs)),
    );
    if (finished) await this.announce(finished);
  }

  /** Expiries, overdue answers, due retries and the set of watched devices: every `retryIntervalMs`. */
  sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return this.sweeping ?? Promise.resolve();
    this.sweeping = this.sweepOnce()
      .catch((err: unknown) => this.o.log.warn({ err }, "command sweep failed"))
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { store } = this.o;
    const now = new Date();
    for (const c of await store.expirable(now, SWEEP_BATCH)) {
      const expired = await store.transition(
        c,
        { state: "pending", unclaimedAt: now },
        { state: "expired", finishedAt: now, error: expiredError(c.createdAt, c.expiresAt) },
      );
      if (expired) await this.announce(expired);
    }
    for (const c of await store.overdue(new Date(now.getTime() - OVERDUE_GRACE_MS), SWEEP_BATCH)) {
      const failed = await store.transition(
        c,
        { state: "delivered" },
        { state: "failed", finishedAt: now, error: noAnswerError(c.timeoutMs) },
      );
      if (failed) await this.announce(failed);
    }
    const due = await store.due(now, SWEEP_BATCH);
    for (const monitorId of new Set(due.map((c) => c.monitorId))) this.kick(monitorId);
    const waiting = await store.waitingMonitors(MAX_WATCHED);
    for (const monitorId of waiting) this.watch(monitorId);
    for (const monitorId of [...this.watches.keys()]) if (!waiting.has(monitorId)) this.unwatch(monitorId);
  }

  /** Publishes a state change (once per command and state: the message id dedupes a retry). */
  private async announce(doc: CommandDoc): Promise<void> {
    const view = commandView(doc);
    this.followers.get(doc._id)?.(view);
    const event = { subject: commandEvents.stateChanged.subject(doc.monitorId, doc._id), schema: CommandSchema };
    await this.o.events
      .publish(event, view, `${doc._id}.${doc.state}`)
      .catch((err: unknown) => this.o.log.warn({ err, commandId: doc._id }, "command event not published"));
  }

  private track(p: Promise<unknown>): void {
    const tracked = p
      .catch((err: unknown) => this.o.log.warn({ err }, "command answer not recorded"))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
