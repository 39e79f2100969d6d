import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
} from "@nats-io/jetstream";
import { type NatsConnection, nuid } from "@nats-io/transport-node";
import { TrellisError } from "@trellis/contracts";
import { nanos } from "@trellis/runtime";
import type { Request, Response } from "express";
import { openSse, type SseStream } from "./sse.ts";

/** What one SSE stream follows in a JetStream stream, and when it ends. */
export interface JetStreamSseSpec {
  /** The JetStream stream read. */
  stream: string;
  /**
   * Its subjects to follow. None follows nothing (an empty filter would mean every subject): the
   * SSE stream stays open with its heartbeats until the client leaves or is revoked.
   */
  filter: readonly string[];
  /** The first stream sequence to send (the one after the client's `Last-Event-ID`, or a route's choice). */
  startSeq: number;
  /** The SSE `event:` of a message, from its subject (a contracts parser). */
  eventOf(subject: string): string;
  /** The last sequence to send, when the stream has a known end (a finished analysis): past it, nothing is sent. */
  endSeq?: number;
  /** Ends the stream once this event is sent (a terminal event). */
  stopWhen?(event: { seq: number; event: string }): boolean;
  /** Whether the caller's session was revoked since the request was authenticated. */
  revoked(): boolean;
  /** Names the stream in its error events (`<label> interrupted; reconnect to resume`, `<label> unavailable`). */
  label: string;
  /** Its consumers are named `<consumerPrefix>_<nuid>` (so operators and tests can tell them apart). */
  consumerPrefix: string;
}

/** How often an open stream checks that its session was not revoked (a Map lookup). */
export const REVOCATION_CHECK_MS = 1_000;

/** A gateway that dies leaves its consumers behind: the server removes them after this long without pulls. */
export const CONSUMER_INACTIVE_MS = 30_000;

/**
 * A consumer's pull lasts this long, so the server's idle heartbeats come every half of it: a
 * consumer lost with its NATS node (it is one replica, in memory, on one node of a cluster) is
 * noticed after two missed heartbeats, ~10 s, instead of nats.js's default ~60 s of silence.
 */
export const PULL_EXPIRES_MS = 10_000;

/** The sequence of the newest message in `stream` (0 when empty); `unavailable` (naming `label`) when the stream is missing. */
export async function lastSequenceOf(js: JetStreamClient, stream: string, label: string): Promise<number> {
  try {
    return (await (await js.streams.get(stream)).info(true)).state.last_seq;
  } catch (err) {
    throw new TrellisError("unavailable", `the ${label} is not available yet`, { cause: err });
  }
}

/** The stream sequence a `Last-Event-ID` names, or 0 (none) when it is not one. */
export function sequenceAfter(lastEventId: string | undefined): number {
  if (lastEventId === undefined || !/^\d{1,15}$/.test(lastEventId)) return 0;
  return Number(lastEventId);
}

/**
 * Ends the stream when the consumer is gone (its node lost, the consumer deleted) or silent (two
 * heartbeats missed): nats.js would otherwise keep pulling from nothing and the client would wait
 * forever. The client resumes from its Last-Event-ID with a new consumer on a node that is up.
 */
async function watchConsumer(messages: ConsumerMessages, sse: SseStream, interrupted: () => void): Promise<void> {
  for await (const s of messages.status()) {
    if (sse.closed) return;
    if (
      (s.type === "heartbeats_missed" && s.count >= 2) ||
      s.type === "consumer_not_found" ||
      s.type === "consumer_deleted" ||
      s.type === "stream_not_found" ||
      s.type === "no_responders"
    ) {
      interrupted();
      await messages.close();
      return;
    }
  }
}

/**
 * The gateway's one JetStream → Server-Sent Events bridge (analysis events, live readings): each
 * message of `filter` from `startSeq` on is sent with its stream sequence as `id:` (a reconnecting
 * `EventSource` resumes after its `Last-Event-ID`, missing nothing, getting nothing twice) and
 * `eventOf(subject)` as `event:`.
 *
 * The consumer is made here rather than by nats.js's ordered consumer, which creates its server
 * consumer in the background: a client leaving while it was being created left it behind for five
 * minutes. This one is created before streaming, deleted however the stream ends, and expires
 * after `CONSUMER_INACTIVE_MS` if the gateway dies. It acks nothing (`AckPolicy.None`), so, as an
 * ordered consumer does, it checks the delivery sequence: a delivery lost on the way ends the
 * stream, and the client resumes from its last id without a gap.
 *
 * Slow clients: `openSse`'s default policy, `drop` (`event: dropped`, then the end); the client
 * resumes where it got to. A stream outlives the request's authentication check, so it ends
 * (`event: error`) within `REVOCATION_CHECK_MS` of its session being revoked (logout, password
 * change, user deleted).
 */
export function jetStreamSse(nc: NatsConnection) {
  const js = jetstream(nc);
  let manager: Promise<JetStreamManager> | undefined;
  const jsm = () => {
    manager ??= js.jetstreamManager().catch((err: unknown) => {
      manager = undefined;
      throw err;
    });
    return manager;
  };

  return {
    js,
    /** Streams `spec` on `res`; resolves once the SSE stream has ended and its consumer is deleted. */
    async stream(req: Request, res: Response, spec: JetStreamSseSpec): Promise<void> {
      const sse = openSse(req, res);
      const interrupted = () =>
        sse.close({ event: "error", data: { message: `${spec.label} interrupted; reconnect to resume` } });
      const check = setInterval(() => {
        if (spec.revoked()) sse.close({ event: "error", data: { message: "the session was revoked" } });
      }, REVOCATION_CHECK_MS);
      sse.onClose(() => clearInterval(check));
      if (spec.endSeq !== undefined && spec.startSeq > spec.endSeq) {
        sse.close();
        return;
      }
      if (spec.filter.length === 0) {
        await sse.done;
        return;
      }
      let manager: JetStreamManager | undefined;
      let name: string | undefined;
      try {
        manager = await jsm();
        const info = await manager.consumers.add(spec.stream, {
          name: `${spec.consumerPrefix}_${nuid.next()}`,
          filter_subjects: [...spec.filter],
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: spec.startSeq,
          ack_policy: AckPolicy.None,
          inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
          mem_storage: true,
          num_replicas: 1,
        });
        name = info.name;
        // The client may have left while the consumer was being made (onClose then never fires).
        if (sse.closed) return;
        const messages = await js.consumers
          .getConsumerFromInfo(info)
          .consume({ abort_on_missing_resource: true, expires: PULL_EXPIRES_MS });
        sse.onClose(() => void messages.close());
        void watchConsumer(messages, sse, interrupted);
        let expected = 1;
        for await (const m of messages) {
          if (m.info.deliverySequence !== expected++) {
            interrupted();
            break;
          }
          const event = spec.eventOf(m.subject);
          // false: the client left or was dropped (it resumes from its Last-Event-ID).
          if (!(await sse.send({ id: m.seq, event, data: m.string() }))) break;
          if ((spec.endSeq !== undefined && m.seq >= spec.endSeq) || spec.stopWhen?.({ seq: m.seq, event })) {
            sse.close();
            break;
          }
        }
        await messages.close();
        if (!sse.closed) throw new Error("the consumer ended");
      } catch (err) {
        req.log.warn({ err, stream: spec.stream }, "event stream failed");
        sse.close({ event: "error", data: { message: `${spec.label} unavailable` } });
      } finally {
        if (manager && name !== undefined) await manager.consumers.delete(spec.stream, name).catch(() => undefined);
      }
    },
  };
}

export type JetStreamSse = ReturnType<typeof jetStreamSse>;
