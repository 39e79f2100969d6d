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

// Subjects are read back only here and by the helpers next to each subject family (`liveSubjects`,
// `deviceSubjects`, `analysisEventKindOf`), never by splitting them where they are used.

/** The service a subject belongs to: its first token (`analysis` of `analysis.v1.analyses.get`). */
export function serviceOfSubject(subj: string): string {
  const dot = subj.indexOf(".");
  return dot < 0 ? subj : subj.slice(0, dot);
}

/** The last token of a subject: the kind of an event subject (`…<id>.<kind>`). */
export function lastTokenOf(subj: string): string {
  return subj.slice(subj.lastIndexOf(".") + 1);
}

/** Queue group a service's instances share, so each request goes to exactly one of them. */
export const queueGroup = (service: ServiceName): string => `trellis-${service}`;
