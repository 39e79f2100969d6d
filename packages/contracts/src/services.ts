import { z } from "zod";

/** The five deployable services. Each answers health over NATS. */
export const ServiceName = z.enum(["gateway", "auth", "telemetry", "media", "analysis"]);
export type ServiceName = z.infer<typeof ServiceName>;
export const SERVICE_NAMES = ServiceName.options;

/**
 * Subjects are `<service>.v<major>.<endpoint>`. Within a major version only additive changes are
 * allowed; a breaking change gets a new version next to the old one.
 */
export const subject = (service: ServiceName, version: number, name: string): string =>
  `${service}.v${version}.${name}`;

/** Queue group a service's instances share, so each request goes to exactly one of them. */
export const queueGroup = (service: ServiceName): string => `trellis-${service}`;
