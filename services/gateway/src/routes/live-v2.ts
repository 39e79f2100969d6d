import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
} from "@nats-io/jetstream";
import { type NatsConnection, nuid } from "@nats-io/transport-node";
import {
  LIVE_STREAM,
  liveSubjects,
  liveV2Routes,
  MAX_LIVE_MONITORS,
  type Principal,
  TrellisError,
  telemetryCatalog,
} from "@trellis/contracts";
import { nanos } from "@trellis/runtime";
import type { Request, Response, Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import type { Caller, Mount } from "../http/mount.ts";
import { lastEventIdOf, openSse, type SseStream } from "../http/sse.ts";
import { sequenceAfter } from "./analysis-v2.ts";

/** What a live stream follows: the subjects of some monitors, or (an admin's `/api/v2/live`) every monitor. */
export type LiveFilter = readonly string[];

/** The sequence of the newest event in `TELEMETRY_LIVE` (0 when empty); unavailable when the stream is missing. */
async function lastLiveSequence(js: JetStreamClient): Promise<number> {
  try {
    const stream = await js.streams.get(LIVE_STREAM);
    return (await stream.info(true)).state.last_seq;
  } catch (err) {
    throw new TrellisError("unavailable", "the live stream is not available yet", { cause: err });
  }
}

/** How often an open stream checks that its session was not revoked (a Map lookup). */
const REVOCATION_CHECK_MS = 1_000;

/** A gateway that dies leaves its consumers behind: the server removes them after this long without pulls. */
const CONSUMER_INACTIVE_MS = 30_000;

/**
 * Streams live events from `TELEMETRY_LIVE` as SSE, as the analysis events are, from a consumer
 * filtered to the monitors' subjects that starts right after the `Last-Event-ID` sequence (a
 * reconnecting client gets every event it missed, once) or, on a first connection, right after
 * the stream's newest event when the request is answered (an event published once the client has
 * the response headers is never missed).
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
export async function streamLive(
  js: JetStreamClient,
  jsm: () => Promise<JetStreamManager>,
  req: Request,
  res: Response,
  filter: LiveFilter,
  revoked: () => boolean,
): Promise<void> {
  const after = sequenceAfter(lastEventIdOf(req));
  // An id past the stream's end (from a stream since recreated, or made up) would wait for the
  // sequence to catch up and miss everything until then: it starts from now instead.
  const newest = await lastLiveSequence(js);
  const startSeq = (after > 0 && after <= newest ? after : newest) + 1;
  const sse = openSse(req, res);
  const check = setInterval(() => {
    if (revoked()) sse.close({ event: "error", data: { message: "the session was revoked" } });
  }, REVOCATION_CHECK_MS);
  sse.onClose(() => clearInterval(check));
  // A user without monitors follows nothing (an empty filter would mean every subject):
  // the stream stays open with its heartbeats until the client leaves.
  if (filter.length === 0) {
    await sse.done;
    return;
  }
  let manager: JetStreamManager | undefined;
  let name: string | undefined;
  try {
    manager = await jsm();
    const info = await manager.consumers.add(LIVE_STREAM, {
      name: `live_${nuid.next()}`,
      filter_subjects: [...filter],
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
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
      .consume({ abort_on_missing_resource: true, expires: LIVE_PULL_EXPIRES_MS });
    sse.onClose(() => void messages.close());
    void watchConsumer(messages, sse);
    let expected = 1;
    for await (const m of messages) {
      if (m.info.deliverySequence !== expected++) {
        sse.close({ event: "error", data: { message: "live stream interrupted; reconnect to resume" } });
        break;
      }
      // false: the client left or was dropped (it resumes from its Last-Event-ID).
      if (!(await sse.send({ id: m.seq, event: liveSubjects.kindOf(m.subject), data: m.string() }))) break;
    }
    await messages.close();
    if (!sse.closed) throw new Error("the live consumer ended");
  } catch (err) {
    req.log.warn({ err }, "live stream failed");
    sse.close({ event: "error", data: { message: "live stream unavailable" } });
  } finally {
    if (manager && name !== undefined) await manager.consumers.delete(LIVE_STREAM, name).catch(() => undefined);
  }
}

/**
 * A live consumer's pull lasts this long, so the server's idle heartbeats come every half of it:
 * a consumer lost with its NATS node (it is one replica, in memory, on one node of a cluster) is
 * noticed after two missed heartbeats, ~10 s, instead of nats.js's default ~60 s of silence.
 */
const LIVE_PULL_EXPIRES_MS = 10_000;

/**
 * Ends the stream when the consumer is gone (its node lost, the consumer deleted) or silent (two
 * heartbeats missed): nats.js would otherwise keep pulling from nothing and the client would wait
 * forever. The client resumes from its Last-Event-ID with a new consumer on a node that is up.
 */
async function watchConsumer(messages: ConsumerMessages, sse: SseStream): Promise<void> {
  for await (const s of messages.status()) {
    if (sse.closed) return;
    if (
      (s.type === "heartbeats_missed" && s.count >= 2) ||
      s.type === "consumer_not_found" ||
      s.type === "consumer_deleted" ||
      s.type === "stream_not_found" ||
      s.type === "no_responders"
    ) {
      sse.close({ event: "error", data: { message: "live stream interrupted; reconnect to resume" } });
      await messages.close();
      return;
    }
  }
}

/**
 * The subjects `/api/v2/live` follows for a caller: an admin every monitor's, a user their own
 * monitors' (as listed when the stream opens; telemetry refuses anyone else, e.g. a monitor).
 */
export async function liveFilterFor(principal: Principal, call: Caller): Promise<LiveFilter> {
  if (principal.kind === "user" && principal.role === "admin") return [liveSubjects.all];
  const page = await call(telemetryCatalog.listMonitors, {
    limit: MAX_LIVE_MONITORS,
    ...(principal.kind === "user" ? { ownerId: principal.userId } : {}),
  });
  if (page.nextCursor !== null) {
    throw new TrellisError(
      "invalid_argument",
      `more than ${MAX_LIVE_MONITORS} monitors: follow them with /api/v2/monitors/{id}/live`,
    );
  }
  return page.items.map((m) => liveSubjects.monitor(m.id));
}

/** Live readings (and other live events) of monitors, as Server-Sent Events. */
export function registerLiveV2(
  router: Router,
  mount: Mount,
  deps: { nc: NatsConnection; authenticator: Pick<Authenticator, "isRevoked"> },
): void {
  const r = liveV2Routes;
  const js = jetstream(deps.nc);
  let manager: Promise<JetStreamManager> | undefined;
  const jsm = () => {
    manager ??= js.jetstreamManager().catch((err: unknown) => {
      manager = undefined;
      throw err;
    });
    return manager;
  };

  const revokedFn = (principal: Principal) => () => deps.authenticator.isRevoked(principal.sessionId);

  mount(router, r.monitorLive, async ({ params, principal, req, res, call }) => {
    // Permission as for reading the monitor, decided by telemetry before the stream opens.
    const monitor = await call(telemetryCatalog.getMonitor, { monitorId: params.id });
    await streamLive(js, jsm, req, res, [liveSubjects.monitor(monitor.id)], revokedFn(principal));
    return undefined;
  });

  mount(router, r.live, async ({ principal, req, res, call }) => {
    await streamLive(js, jsm, req, res, await liveFilterFor(principal, call), revokedFn(principal));
    return undefined;
  });
}
