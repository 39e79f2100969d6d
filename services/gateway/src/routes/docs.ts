import { buildOpenApiDocument, httpRoutes } from "@trellis/contracts";
import express, { type Router } from "express";
import helmet from "helmet";
import { getAbsoluteFSPath } from "swagger-ui-dist";

/**
 * `/openapi.json`, generated from the contract routes once at start-up, and `/docs`, Swagger UI
 * rendering it. The UI's assets come from the swagger-ui-dist package and are served from this
 * origin, so the page works offline and under helmet's default Content-Security-Policy.
 */
export function registerDocs(router: Router, version: string): void {
  const document = buildOpenApiDocument(httpRoutes, {
    title: "Trellis API",
    version,
    description:
      "Hydroponic telemetry, media and video analysis. `/api/v1` is the Altoponix-compatible API (seed 002); `/api/v2` is the modern API.",
  });
  router.get("/openapi.json", (_req, res) => {
    res.json(document);
  });
  // The page needs scripts and styles from this origin, which the API's CSP forbids.
  router.use("/docs", helmet.contentSecurityPolicy({ useDefaults: true }));
  router.get("/docs", (req, res, next) => {
    if (!req.path.endsWith("/")) return res.redirect(301, "/docs/");
    next();
  });
  // Replaces the package's initializer, which points at the Petstore example.
  router.get("/docs/swagger-initializer.js", (_req, res) => {
    res
      .type("application/javascript")
      .send(
        'window.onload = () => { window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true }); };\n',
      );
  });
  router.use("/docs", express.static(getAbsoluteFSPath(), { index: "index.html", maxAge: "1h" }));
}
