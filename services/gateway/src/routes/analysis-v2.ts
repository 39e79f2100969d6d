import type { NatsConnection } from "@nats-io/transport-node";
import {
  ANALYSIS_EVENTS_STREAM,
  type AnalysisId,
  analysisCatalog,
  analysisEventKindOf,
  analysisEventsOf,
  analysisV2Routes,
  isFinishedState,
  isTerminalAnalysisEvent,
  TrellisError,
} from "@trellis/contracts";
import type { Request, Response, Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import { type JetStreamSse, jetStreamSse, sequenceAfter } from "../http/jetstream-sse.ts";
import type { Mount } from "../http/mount.ts";
import { lastEventIdOf } from "../http/sse.ts";

/** The last stored event's sequence of an analysis, or 0 when it has none (never published, or expired). */
async function lastEventSeqOf(sse: JetStreamSse, analysisId: AnalysisId): Promise<number> {
  try {
    const stream = await sse.js.streams.get(ANALYSIS_EVENTS_STREAM);
    const last = await stream.getMessage({ last_by_subj: analysisEventsOf(analysisId) });
    return last?.seq ?? 0;
  } catch (err) {
    throw new TrellisError("unavailable", "the event stream is not available yet", { cause: err });
  }
}

/**
 * Streams one analysis's events as SSE (the gateway's JetStream bridge), filtered to the analysis's
 * subjects, from the start or after the `Last-Event-ID` sequence. Ends after a terminal event; for
 * an analysis already finished, after its last stored event.
 */
async function streamEvents(
  sse: JetStreamSse,
  req: Request,
  res: Response,
  analysisId: AnalysisId,
  finished: boolean,
  revoked: () => boolean,
): Promise<void> {
  const after = sequenceAfter(lastEventIdOf(req));
  // A finished analysis has no more events to wait for: stop at its last stored one.
  const endSeq = finished ? await lastEventSeqOf(sse, analysisId) : undefined;
  await sse.stream(req, res, {
    stream: ANALYSIS_EVENTS_STREAM,
    filter: [analysisEventsOf(analysisId)],
    startSeq: after + 1,
    ...(endSeq !== undefined ? { endSeq } : {}),
    eventOf: analysisEventKindOf,
    stopWhen: ({ event }) => isTerminalAnalysisEvent(event),
    revoked,
    label: "event stream",
    consumerPrefix: "analysis",
  });
}

/** Analyses of videos. Authorization is decided by the analysis service (and media), from `actor`. */
export function registerAnalysisV2(
  router: Router,
  mount: Mount,
  deps: { nc: NatsConnection; authenticator: Pick<Authenticator, "isRevoked"> },
): void {
  const r = analysisV2Routes;
  const sse = jetStreamSse(deps.nc);

  mount(router, r.analysisEvents, async ({ params, principal, req, res, call }) => {
    // The get endpoint decides who may see it (404 for anyone else), before the stream opens.
    const analysis = await call(analysisCatalog.get, { analysisId: params.id });
    const revoked = () => deps.authenticator.isRevoked(principal.sessionId);
    await streamEvents(sse, req, res, analysis.id, isFinishedState(analysis.state), revoked);
    return undefined;
  });

  mount(router, r.startAnalysis, async ({ body, call }) => {
    const options = { title: body.title, numQuestions: body.num_questions, keyframeInterval: body.keyframe_interval };
    // The body's schema lets through exactly one of `url` and `video_id`.
    const { created, analysis } =
      body.url !== undefined
        ? await call(analysisCatalog.startUrl, { url: body.url, ...options })
        : await call(analysisCatalog.start, { videoId: body.video_id as string, ...options });
    return created
      ? { status: 202, body: analysis, headers: { Location: `/api/v2/analyses/${analysis.id}` } }
      : { status: 200, body: analysis };
  });

  mount(router, r.listAnalyses, async ({ query, call }) => ({
    status: 200,
    body: await call(analysisCatalog.list, {
      limit: query.limit,
      ...(query.video_id !== undefined ? { videoId: query.video_id } : {}),
    }),
  }));

  mount(router, r.getAnalysis, async ({ params, call }) => ({
    status: 200,
    body: await call(analysisCatalog.get, { analysisId: params.id }),
  }));

  mount(router, r.cancelAnalysis, async ({ params, call }) => ({
    status: 200,
    body: await call(analysisCatalog.cancel, { analysisId: params.id }),
  }));

  mount(router, r.analysisQuestions, async ({ params, query, res, call }) => {
    if (query.format === undefined) {
      return { status: 200, body: await call(analysisCatalog.questions, { analysisId: params.id }) };
    }
    const file = await call(analysisCatalog.exportQuestions, { analysisId: params.id, format: query.format });
    res
      .status(200)
      .type(file.contentType)
      .setHeader("Content-Disposition", `attachment; filename="${file.filename}"`)
      .send(file.text);
    return undefined;
  });
}
