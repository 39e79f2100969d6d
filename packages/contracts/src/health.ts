import { z } from "zod";
import { type Endpoint, endpoint } from "./endpoint.ts";
import { type ServiceName, subject } from "./services.ts";

export const HealthRequest = z.object({}).strict();
export type HealthRequest = z.infer<typeof HealthRequest>;

export const DependencyStatus = z.object({
  ok: z.boolean(),
  latencyMs: z.number().nonnegative(),
  error: z.string().optional(),
});
export type DependencyStatus = z.infer<typeof DependencyStatus>;

export const HealthReply = z.object({
  service: z.string(),
  instance: z.string().describe("Unique per process, so callers can tell instances apart."),
  version: z.string(),
  status: z.enum(["ok", "degraded"]),
  uptimeSeconds: z.number().nonnegative(),
  dependencies: z.record(z.string(), DependencyStatus),
});
export type HealthReply = z.infer<typeof HealthReply>;

export type HealthEndpoint = Endpoint<typeof HealthRequest, typeof HealthReply>;

/** Every service answers `<service>.v1.health` in its queue group. */
export const healthEndpoint = (service: ServiceName): HealthEndpoint =>
  endpoint({
    subject: subject(service, 1, "health"),
    request: HealthRequest,
    reply: HealthReply,
    description: `Liveness of one ${service} instance and of the dependencies it owns.`,
  });
