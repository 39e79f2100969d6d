import { z } from "zod";
import { MonitorId } from "../identity.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const tags = ["monitors"];
const eventStream = { 200: { description: "The event stream.", contentType: "text/event-stream" } } as const;

/** Most monitors `GET /api/v2/live` follows at once; past it, per-monitor streams (or an admin's). */
export const MAX_LIVE_MONITORS = 1_000;

const HOW =
  "Server-Sent Events: `event:` the kind (`reading`, and `alarm` / `presence` where those are published), `data:` the event as JSON (a reading: `{monitorId, readingSeq, at, values, strings}`), `id:` its sequence in the `TELEMETRY_LIVE` stream. New events from now on, or, with `Last-Event-ID` (header or `?lastEventId=`), every event after that id: nothing missed or repeated while the stream keeps them (one hour). A client that falls more than 1 MiB behind gets `event: dropped` and the stream ends (an `EventSource` reconnects with `Last-Event-ID` and loses nothing). `: ping` every 15 s.";

export const liveV2Routes = {
  monitorLive: route({
    method: "get",
    path: "/api/v2/monitors/:id/live",
    operationId: "monitorLive",
    summary: `One monitor's live events (its owner or an admin; anyone else as for GET /api/v2/monitors/{id}). ${HOW}`,
    tags,
    auth: "bearer",
    eventStream: true,
    params: z.object({ id: MonitorId }),
    responses: {
      ...eventStream,
      404: { description: "No such monitor, or not yours (the same answer).", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  live: route({
    method: "get",
    path: "/api/v2/live",
    operationId: "live",
    summary: `Live events of all of the caller's monitors (an admin: of every monitor), as they are when the stream opens: a monitor added later is followed from the next connection. Up to ${MAX_LIVE_MONITORS} monitors (more: 400). ${HOW}`,
    tags,
    auth: "bearer",
    eventStream: true,
    responses: { ...eventStream, ...authErrors },
  }),
} as const;
