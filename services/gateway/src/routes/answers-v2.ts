import { analysisCatalog, answersV2Routes } from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

/** Learners' answers and analysis sharing. The analysis service decides who may, from `actor`. */
export function registerAnswersV2(router: Router, mount: Mount): void {
  const r = answersV2Routes;

  mount(router, r.submitAnswer, async ({ params, body, call }) => ({
    status: 200,
    body: await call(analysisCatalog.submitAnswer, { questionId: params.id, answer: body.answer }),
  }));

  mount(router, r.quiz, async ({ params, call }) => ({
    status: 200,
    body: await call(analysisCatalog.quiz, { analysisId: params.id }),
  }));

  mount(router, r.myAnswers, async ({ params, call }) => ({
    status: 200,
    body: await call(analysisCatalog.myAnswers, { analysisId: params.id }),
  }));

  mount(router, r.updateAnalysis, async ({ params, body, call }) => ({
    status: 200,
    body: await call(analysisCatalog.updateAnalysis, {
      analysisId: params.id,
      sharing: {
        ...(body.shared !== undefined ? { shared: body.shared } : {}),
        ...(body.tracked_url !== undefined ? { trackedUrl: body.tracked_url } : {}),
      },
    }),
  }));
}
