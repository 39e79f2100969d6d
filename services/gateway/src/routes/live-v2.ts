import { DeliverPolicy, type JetStreamClient, jetstream } from "@nats-io/jetstream";
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
import type { Caller, Mount } from "../http/mount.ts";
import { openSse } from "../http/sse.ts";
import { sequenceAfter } from "./analysis-v2.ts";

/** What a live stream follows: the subjects of some monitors, or (an admin's `/api/v2/live`) every monitor. */
export type LiveFilter = readonly string[];

/**
 * Streams live events from `TELEMETRY_LIVE` as SSE, as the analysis events are: an ordered
 * consumer filtered to the monitors' subjects, from now on (`DeliverPolicy.New`) or right after
 * the `Last-Event-ID` sequence, so a reconnecting client gets every event it missed, once. The
 * slow-client policy is `openSse`'s default, `drop`: the stream resumes where the client got to.
 * A client leaving (or dropped) stops the consumer and deletes it.
 */
export async function streamLive(js: JetStreamClient, req: Request, res: Response, filter: LiveFilter): Promise<void> {
  const sse = openSse(req, res);
  // A user without monitors follows nothing (an empty filter would mean every subject):
  // the stream stays open with its heartbeats until the client leaves.
  if (filter.length === 0) {
    await sse.done;
    return;
  }
  const after = sequenceAfter(sse.lastEventId);
  try {
    const consumer = await js.consumers.get(LIVE_STREAM, {
      filter_subjects: [...filter],
      ...(after > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }
        : { deliver_policy: DeliverPolicy.New }),
    });
    const messages = await consumer.consume();
    sse.onClose(() => void messages.close());
    try {
      // The client may have left while the consumer was being made (onClose then never fires).
      if (sse.closed) return;
      for await (const m of messages) {
        // false: the client left or was dropped (it resumes from its Last-Event-ID).
        if (!(await sse.send({ id: m.seq, event: liveSubjects.kindOf(m.subject), data: m.string() }))) break;
      }
    } finally {
      await messages.close();
      // The server would keep the ephemeral consumer until its inactivity threshold: delete it now.
      await Promise.resolve()
        .then(() => consumer.delete())
        .catch(() => undefined);
    }
  } catch (err) {
    req.log.warn({ err }, "live stream failed");
    sse.close({ event: "error", data: { message: "live stream unavailable" } });
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
export function registerLiveV2(router: Router, mount: Mount, deps: { nc: NatsConnection }): void {
  const r = liveV2Routes;
  const js = jetstream(deps.nc);

  mount(router, r.monitorLive, async ({ params, req, res, call }) => {
    // Permission as for reading the monitor, decided by telemetry before the stream opens.
    const monitor = await call(telemetryCatalog.getMonitor, { monitorId: params.id });
    await streamLive(js, req, res, [liveSubjects.monitor(monitor.id)]);
    return undefined;
  });

  mount(router, r.live, async ({ principal, req, res, call }) => {
    await streamLive(js, req, res, await liveFilterFor(principal, call));
    return undefined;
  });
}
