import type { NatsConnection } from "@nats-io/transport-node";
import {
  catalogs,
  type ReadinessReport,
  SERVICE_NAMES,
  type ServiceName,
  systemRoutes,
  type TrellisError,
} from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

export interface SystemDeps {
  nc: NatsConnection;
  /** Shorter than requests': a readiness probe must answer before the orchestrator gives up. */
  readinessTimeoutMs: number;
}

/** Asks every service for its health in parallel; a service is ready when one instance answers "ok". */
export async function readiness(deps: SystemDeps, requestId: string): Promise<ReadinessReport> {
  const natsUp = !deps.nc.isClosed() && !deps.nc.isDraining();
  const entries = await Promise.all(
    SERVICE_NAMES.map(async (service: ServiceName) => {
      const started = performance.now();
      const latencyMs = () => Math.round(performance.now() - started);
      try {
        const health = await request(
          deps.nc,
          catalogs[service].health,
          {},
          {
            requestId,
            timeoutMs: deps.readinessTimeoutMs,
          },
        );
        const ok = health.status === "ok";
        const failing = Object.entries(health.dependencies)
          .filter(([, d]) => !d.ok)
          .map(([n]) => n);
        return [
          service,
          {
            ok,
            latencyMs: latencyMs(),
            instance: health.instance,
            ...(ok ? {} : { error: `dependencies failing: ${failing.join(", ")}` }),
          },
        ] as const;
      } catch (err) {
        return [service, { ok: false, latencyMs: latencyMs(), error: (err as TrellisError).message }] as const;
      }
    }),
  );
  const services = Object.fromEntries(entries) as ReadinessReport["services"];
  const unavailable = SERVICE_NAMES.filter((s) => !services[s].ok);
  return { status: natsUp && unavailable.length === 0 ? "ready" : "unready", nats: natsUp, services, unavailable };
}

export function registerSystem(router: Router, mount: Mount, deps: SystemDeps): void {
  mount(router, systemRoutes.healthz, async () => ({ status: 200, body: { status: "ok" as const } }));
  mount(router, systemRoutes.readyz, async ({ req }) => {
    const report = await readiness(deps, String(req.id));
    return { status: report.status === "ready" ? 200 : 503, body: report, headers: { "Cache-Control": "no-store" } };
  });
  mount(router, systemRoutes.serviceHealth, async ({ params, call }) => ({
    status: 200,
    body: await call(catalogs[params.service].health, {}),
  }));
}
