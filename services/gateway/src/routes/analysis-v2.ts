import { DeliverPolicy, type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ANALYSIS_EVENTS_STREAM,
  type AnalysisId,
  analysisCatalog,
  analysisEventsOf,
  analysisV2Routes,
  isFinishedState,
  isTerminalAnalysisEvent,
} from "@trellis/contracts";
import type { Request, Response, Router } from "express";
import type { Mount } from "../http/mount.ts";
import { openSse } from "../http/sse.ts";

/** The stream sequence a `Last-Event-ID` names, or 0 (from the start) when it is not one. */
export function sequenceAfter(lastEventId: string | undefined): number {
  if (lastEventId === undefined || !/^\d{1,15}$/.test(lastEventId)) return 0;
  return Number(lastEventId);
}

/** The last stored event's sequence of an analysis, or 0 when it has none (never published, or expired). */
async function lastSequenceOf(js: JetStreamClient, analysisId: AnalysisId): Promise<number> {
  const stream = await js.streams.get(ANALYSIS_EVENTS_STREAM);
  const last = await stream.getMessage({ last_by_subj: analysisEventsOf(analysisId) });
  return last?.seq ?? 0;
}

/**
 * Streams one analysis's events from JetStream as SSE: an ordered consumer filtered to the
 * analysis's subjects, from the start or after the `Last-Event-ID` sequence. Ends after a terminal
 * event; for an analysis already finished, after its last stored event. A client leaving stops the consumer.
 */
async function streamEvents(
  js: JetStreamClient,
  req: Request,
  res: Response,
  analysisId: AnalysisId,
  finished: boolean,
): Promise<void> {
  const sse = openSse(req, res);
  const after = sequenceAfter(sse.lastEventId);
  try {
    // A finished analysis has no more events to wait for: stop at its last stored one.
    const lastSeq = finished ? await lastSequenceOf(js, analysisId) : Number.POSITIVE_INFINITY;
    if (lastSeq <= after) {
      sse.close();
      return;
    }
    const consumer = await js.consumers.get(ANALYSIS_EVENTS_STREAM, {
      filter_subjects: [analysisEventsOf(analysisId)],
      ...(after > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 } : {}),
    });
    const messages = await consumer.consume();
    sse.onClose(() => void messages.close());
    try {
      // The client may have left while the consumer was being made (onClose then never fires).
      if (sse.closed) return;
      for await (const m of messages) {
        const kind = m.subject.slice(m.subject.lastIndexOf(".") + 1);
        await sse.send({ id: m.seq, event: kind, data: m.string() });
        if (isTerminalAnalysisEvent(kind) || m.seq >= lastSeq) {
          sse.close();
          break;
        }
      }
    } finally {
      await messages.close();
      // The server would keep the ephemeral consumer until its inactivity threshold: delete it now.
      await Promise.resolve()
        .then(() => consumer.delete())
        .catch(() => undefined);
    }
  } catch (err) {
    req.log.warn({ err, analysisId }, "analysis event stream failed");
    sse.close({ event: "error", data: { message: "event stream unavailable" } });
  }
}

/** Analyses of videos. Authorization is decided by the analysis service (and media), from `actor`. */
export function registerAnalysisV2(router: Router, mount: Mount, deps: { nc: NatsConnection }): void {
  const r = analysisV2Routes;
  const js = jetstream(deps.nc);

  mount(router, r.analysisEvents, async ({ params, req, res, call }) => {
    // The get endpoint decides who may see it (404 for anyone else), before the stream opens.
    const analysis = await call(analysisCatalog.get, { analysisId: params.id });
    await streamEvents(js, req, res, analysis.id, isFinishedState(analysis.state));
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
