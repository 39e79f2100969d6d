import type { Command } from "@trellis/contracts";
import type { CommandDoc } from "../store/commands.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const commandView = (doc: CommandDoc): Command => ({
  id: doc._id,
  monitorId: doc.monitorId,
  name: doc.name,
  params: doc.params,
  persistent: doc.persistent,
  timeoutMs: doc.timeoutMs,
  state: doc.state,
  createdAt: doc.createdAt.toISOString(),
  expiresAt: doc.expiresAt.toISOString(),
  deliveredAt: iso(doc.deliveredAt),
  finishedAt: iso(doc.finishedAt),
  attempts: doc.attempts,
  ...(doc.state === "succeeded" ? { result: doc.result ?? null } : {}),
  error: doc.error,
});
