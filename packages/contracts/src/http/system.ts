import { z } from "zod";
import { HealthReply } from "../health.ts";
import { ServiceName } from "../services.ts";
import { commonErrors } from "./errors-http.ts";
import { route } from "./route.ts";

export const ServiceReadiness = z.object({
  ok: z.boolean(),
  latencyMs: z.number().nonnegative(),
  instance: z.string().optional(),
  error: z.string().optional(),
});

export const ReadinessReport = z.object({
  status: z.enum(["ready", "unready"]),
  nats: z.boolean(),
  services: z.record(ServiceName, ServiceReadiness),
  unavailable: z.array(ServiceName),
  /**
   * What is down, by name: `nats` when the gateway has lost NATS, a service that did not answer,
   * a dependency (`mongo`, `redis`...) a service reports failing, or `revocations` while the gateway has
   * not yet synced the revocation list from auth (access tokens get 503 until then). Empty when ready.
   */
  down: z.array(z.string()),
});
export type ReadinessReport = z.infer<typeof ReadinessReport>;

export const Liveness = z.object({ status: z.literal("ok") });

export const systemRoutes = {
  healthz: route({
    method: "get",
    path: "/healthz",
    operationId: "getLiveness",
    summary: "The gateway process is alive.",
    tags: ["system"],
    auth: "public",
    responses: { 200: { description: "Alive.", schema: Liveness } },
  }),
  readyz: route({
    method: "get",
    path: "/readyz",
    operationId: "getReadiness",
    summary: "NATS is connected and every service answers its health request.",
    tags: ["system"],
    auth: "public",
    responses: {
      200: { description: "Every service answered.", schema: ReadinessReport },
      503: {
        description:
          "NATS is down, or a service did not answer or reports a failing dependency; `unavailable` names the services, `down` what is down.",
        schema: ReadinessReport,
      },
    },
  }),
  serviceHealth: route({
    method: "get",
    path: "/api/v2/services/:service/health",
    operationId: "getServiceHealth",
    summary: "Health of one instance of a service, asked over NATS.",
    tags: ["system"],
    auth: "public",
    params: z.object({ service: ServiceName }),
    responses: { 200: { description: "The instance's health.", schema: HealthReply }, ...commonErrors },
  }),
} as const;
