import { analysisCatalog, analysisV2Routes } from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

/** Analyses of videos. Authorization is decided by the analysis service (and media), from `actor`. */
export function registerAnalysisV2(router: Router, mount: Mount): void {
  const r = analysisV2Routes;

  mount(router, r.startAnalysis, async ({ body, call }) => {
    const { created, analysis } = await call(analysisCatalog.start, {
      videoId: body.video_id,
      title: body.title,
      numQuestions: body.num_questions,
      keyframeInterval: body.keyframe_interval,
    });
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
