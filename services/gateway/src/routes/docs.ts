import { buildOpenApiDocument, httpRoutes } from "@trellis/contracts";
import { Router } from "express";

/** `/openapi.json`, generated from the contract routes once at start-up. */
export function docsRouter(version: string): Router {
  const document = buildOpenApiDocument(httpRoutes, {
    title: "Trellis API",
    version,
    description: "Hydroponic telemetry, media and video analysis. `/api/v1` is the Altoponix-compatible API.",
  });
  const router = Router();
  router.get("/openapi.json", (_req, res) => {
    res.json(document);
  });
  return router;
}
