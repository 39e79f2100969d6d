import type { NatsConnection } from "@nats-io/transport-node";
import {
  LIVE_STREAM,
  liveSubjects,
  liveV2Routes,
  MAX_LIVE_MONITORS,
  type Principal,
  TrellisError,
  telemetryCatalog,
} from "@trellis/contracts";
import type { Request, Response, Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import { type JetStreamSse, jetStreamSse, lastSequenceOf, sequenceAfter } from "../http/jetstream-sse.ts";
import type { Caller, Mount } from "../http/mount.ts";
import { lastEventIdOf } from "../http/sse.ts";

/** What a live stream follows: the subjects of some monitors, or (an admin's `/api/v2/live`) every monitor. */
export type LiveFilter = readonly string[];

/**
 * Streams live events from `TELEMETRY_LIVE` as SSE (the gateway's JetStream bridge), filtered to
 * the monitors' subjects, from right after the `Last-Event-ID` sequence (a reconnecting client gets
 * every event it missed, once) or, on a first connection, right after the stream's newest event
 * when the request is answered (an event published once the client has the response headers is
 * never missed).
 */
export async function streamLive(
  sse: JetStreamSse,
  req: Request,
  res: Response,
  filter: LiveFilter,
  revoked: () => boolean,
): Promise<void> {
  const after = sequenceAfter(lastEventIdOf(req));
  // An id past the stream's end (from a stream since recreated, or made up) would wait for the
  // sequence to catch up and miss everything until then: it starts from now instead.
  const newest = await lastSequenceOf(sse.js, LIVE_STREAM, "live stream");
  const startSeq = (after > 0 && after <= newest ? after : newest) + 1;
  await sse.stream(req, res, {
    stream: LIVE_STREAM,
    filter,
    startSeq,
    eventOf: liveSubjects.kindOf,
    revoked,
    label: "live stream",
    consumerPrefix: "live",
  });
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
  const sse = jetStreamSse(deps.nc);

  const revokedFn = (principal: Principal) => () => deps.authenticator.isRevoked(principal.sessionId);

  mount(router, r.monitorLive, async ({ params, principal, req, res, call }) => {
    // Permission as for reading the monitor, decided by telemetry before the stream opens.
    const monitor = await call(telemetryCatalog.getMonitor, { monitorId: params.id });
    await streamLive(sse, req, res, [liveSubjects.monitor(monitor.id)], revokedFn(principal));
    return undefined;
  });

  mount(router, r.live, async ({ principal, req, res, call }) => {
    await streamLive(sse, req, res, await liveFilterFor(principal, call), revokedFn(principal));
    return undefined;
  });
}
