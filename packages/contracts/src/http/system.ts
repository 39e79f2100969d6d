import { z } from "zod";
import { ErrorBody } from "../errors.ts";
import { HealthReply } from "../health.ts";
import { ServiceName } from "../services.ts";
import { route } from "./route.ts";

/** The error body of every modern (non-`/api/v1`) HTTP error response. */
export const ErrorResponse = z.object({ error: ErrorBody });
export type ErrorResponse = z.infer<typeof ErrorResponse>;

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
});
export type ReadinessReport = z.infer<typeof ReadinessReport>;

export const Liveness = z.object({ status: z.literal("ok") });

const errors = {
  400: { description: "The request is malformed.", schema: ErrorResponse },
  503: { description: "No instance of the service answered; retry after `Retry-After`.", schema: ErrorResponse },
  504: { description: "The service did not answer in time.", schema: ErrorResponse },
} as const;

export const systemRoutes = {
  healthz: route({
    method: "get",
    path: "/healthz",
    operationId: "getLiveness",
    summary: "The gateway process is alive.",
    tags: ["system"],
    responses: { 200: { description: "Alive.", schema: Liveness } },
  }),
  readyz: route({
    method: "get",
    path: "/readyz",
    operationId: "getReadiness",
    summary: "NATS is connected and every service answers its health request.",
    tags: ["system"],
    responses: {
      200: { description: "Every service answered.", schema: ReadinessReport },
      503: { description: "At least one service did not answer; `unavailable` names them.", schema: ReadinessReport },
    },
  }),
  serviceHealth: route({
    method: "get",
    path: "/api/v2/services/:service/health",
    operationId: "getServiceHealth",
    summary: "Health of one instance of a service, asked over NATS.",
    tags: ["system"],
    params: z.object({ service: ServiceName }),
    responses: { 200: { description: "The instance's health.", schema: HealthReply }, ...errors },
  }),
} as const;
