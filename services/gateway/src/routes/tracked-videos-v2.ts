import { analysisCatalog, trackedVideosV2Routes } from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

/** Tracked videos (seed 001 `add_URL` / `get_URL`), answered by the analysis service. */
export function registerTrackedVideosV2(router: Router, mount: Mount): void {
  const r = trackedVideosV2Routes;

  mount(router, r.track, async ({ body, call }) => ({
    status: 201,
    body: await call(analysisCatalog.trackVideo, {
      url: body.url,
      ...(body.title !== undefined ? { title: body.title } : {}),
    }),
  }));

  mount(router, r.engagement, async ({ query, call }) => ({
    status: 200,
    body: await call(analysisCatalog.getEngagement, { url: query.url }),
  }));

  mount(router, r.view, async ({ body, call }) => ({
    status: 200,
    body: await call(analysisCatalog.recordView, { url: body.url }),
  }));
}
