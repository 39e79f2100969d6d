import type { NatsConnection } from "@nats-io/transport-node";
import {
  catalogs,
  type ReadinessReport,
  SERVICE_NAMES,
  type ServiceName,
  systemRoutes,
  type TrellisError,
} from "@trellis/contracts";
import { natsConnected, request } from "@trellis/runtime";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

export interface SystemDeps {
  nc: NatsConnection;
  /** Shorter than requests': a readiness probe must answer before the orchestrator gives up. */
  readinessTimeoutMs: number;
  /**
   * What the gateway itself still lacks, by name (e.g. `revocations` until the revocation list is
   * synced from auth: until then every access token gets 503, so the gateway is not ready).
   */
  localUnready?: () => string[];
}

/** Asks every service for its health in parallel; a service is ready when one instance answers "ok". */
export async function readiness(deps: SystemDeps, requestId: string): Promise<ReadinessReport> {
  const natsUp = natsConnected(deps.nc);
  /** Services that did not answer, then dependencies the others report failing. */
  const down = new Set<string>(natsUp ? [] : ["nats"]);
  const failingDeps = new Set<string>();
  const entries = await Promise.all(
    SERVICE_NAMES.map(async (service: ServiceName) => {
      // Without NATS no service can be asked: say so at once rather than after every timeout.
      if (!natsUp)
        return [service, { ok: false, latencyMs: 0, error: "the gateway is not connected to NATS" }] as const;
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
        for (const n of failing) failingDeps.add(n);
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
        down.add(service);
        return [service, { ok: false, latencyMs: latencyMs(), error: (err as TrellisError).message }] as const;
      }
    }),
  );
  const services = Object.fromEntries(entries) as ReadinessReport["services"];
  const unavailable = SERVICE_NAMES.filter((s) => !services[s].ok);
  for (const d of failingDeps) down.add(d);
  const local = deps.localUnready?.() ?? [];
  for (const d of local) down.add(d);
  return {
    status: natsUp && unavailable.length === 0 && local.length === 0 ? "ready" : "unready",
    nats: natsUp,
    services,
    unavailable,
    down: [...down],
  };
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
