import { authCatalog, type BulkRowResult, type Principal, TrellisError } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { TelemetryContext } from "../context.ts";
import { forbidden, isAdmin, requireAdmin, requireUser } from "../domain/authorization.ts";
import { type BulkRow, planBulk, summarize } from "../domain/bulk.ts";
import { monitorNotFound, readableMonitor } from "./access.ts";
import { monitorView } from "./monitor-view.ts";
import type { TelemetryHandlers } from "./types.ts";

type MonitorHandlers = Pick<
  TelemetryHandlers,
  "addMonitor" | "bulkAddMonitors" | "getMonitor" | "listMonitors" | "resetMonitor" | "deleteMonitor"
>;

/** Rows of a bulk upload created at once (auth hashes each password: that is the cost). */
const BULK_CONCURRENCY = 4;
/** A bulk upload starts no new row after this share of the time left before the caller's deadline. */
const BULK_TIME_SHARE = 0.7;

export function monitorHandlers(t: TelemetryContext): MonitorHandlers {
  const { monitors } = t;
  const conflict = () => new TrellisError("conflict", "monitor_id already exists");

  /** Credentials first (auth checks the owner and the password policy, and refuses a taken id), then the monitor. */
  async function createMonitor(
    actor: Principal,
    monitorId: string,
    ownerId: string,
    password: string,
    requestId: string,
  ) {
    if (await monitors.findSummary(monitorId)) throw conflict();
    await request(t.nc, authCatalog.setMonitorCredentials, { actor, monitorId, ownerId, password }, { requestId });
    const doc = { _id: monitorId, ownerId, createdAt: new Date(), readingsStored: 0, readingsRejected: 0 };
    let created: boolean;
    try {
      created = await monitors.create(doc);
    } catch (err) {
      await request(t.nc, authCatalog.deleteMonitorCredentials, { actor, monitorId }, { requestId }).catch(() => {});
      throw err;
    }
    if (!created) {
      // A monitor with this id appeared since the check: the credentials we just created
      // belong to no monitor of ours, so take them back.
      await request(t.nc, authCatalog.deleteMonitorCredentials, { actor, monitorId }, { requestId }).catch(() => {});
      throw conflict();
    }
    return doc;
  }

  return {
    async addMonitor({ actor, monitorId, ownerId, password }, { requestId }) {
      requireAdmin(actor);
      return monitorView(await createMonitor(actor, monitorId, ownerId, password, requestId));
    },

    /**
     * Each row as `addMonitor` would, a few at a time: a monitor that exists is `exists` and left
     * alone (so a re-upload changes nothing), a refusal from auth (unknown owner, weak password)
     * is that row's error. Rows not started in time are errors asking for a re-upload, so the
     * answer comes before the caller's deadline and is never a timeout.
     */
    async bulkAddMonitors({ actor, csv }, { requestId, deadline, log }) {
      requireAdmin(actor);
      const plan = planBulk(csv);
      const stopStarting = Date.now() + (deadline - Date.now()) * BULK_TIME_SHARE;
      const results: BulkRowResult[] = [];
      const provision = async (row: BulkRow): Promise<BulkRowResult> => {
        const base = { line: row.line, id: row.monitorId };
        if (Date.now() > stopStarting) {
          return {
            ...base,
            status: "error",
            reason: "not attempted before the request deadline: upload the file again",
          };
        }
        try {
          if (await monitors.findSummary(row.monitorId)) return { ...base, status: "exists" };
          await createMonitor(actor, row.monitorId, row.ownerId, row.password, requestId);
          return { ...base, status: "created", ...(row.generated ? { password: row.password } : {}) };
        } catch (err) {
          if (err instanceof TrellisError && err.code === "conflict") {
            // Another upload created it meanwhile; or auth holds credentials for an id without a monitor.
            if (await monitors.findSummary(row.monitorId)) return { ...base, status: "exists" };
            return { ...base, status: "error", reason: "credentials for this id exist without a monitor" };
          }
          // The row's own fault: a weak password (invalid_argument), an unknown owner (not_found).
          if (err instanceof TrellisError && (err.code === "invalid_argument" || err.code === "not_found")) {
            return { ...base, status: "error", reason: err.message };
          }
          log.warn({ err, monitorId: row.monitorId }, "bulk row failed");
          const code = err instanceof TrellisError ? err.code : "internal";
          return { ...base, status: "error", reason: `could not be created now (${code}): upload the file again` };
        }
      };
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < plan.length; i = next++) {
          const item = plan[i];
          if (item) results[i] = item.kind === "error" ? item.result : await provision(item.row);
        }
      };
      await Promise.all(Array.from({ length: BULK_CONCURRENCY }, worker));
      return summarize(results);
    },

    async getMonitor({ actor, monitorId }) {
      return monitorView(await readableMonitor(monitors, actor, monitorId));
    },

    async listMonitors({ actor, ownerId, limit, cursor }) {
      const user = requireUser(actor);
      // Another user's list is an admin's scope, refused whatever the id (before any lookup): `forbidden`.
      if (!isAdmin(user) && ownerId !== undefined && ownerId !== user.userId) throw forbidden();
      const owner = isAdmin(user) ? ownerId : user.userId;
      const docs = await monitors.page(owner === undefined ? {} : { ownerId: owner }, limit + 1, cursor);
      const items = docs.slice(0, limit);
      return { items: items.map(monitorView), nextCursor: docs.length > limit ? (items.at(-1)?._id ?? null) : null };
    },

    async resetMonitor({ actor, monitorId }) {
      requireAdmin(actor);
      if (!(await monitors.findSummary(monitorId))) throw monitorNotFound();
      await t.monitorData.clear(monitorId);
      if (!(await monitors.reset(monitorId))) throw monitorNotFound();
      return {};
    },

    async deleteMonitor({ actor, monitorId }, { requestId }) {
      requireAdmin(actor);
      const doc = await monitors.findSummary(monitorId);
      if (!doc) throw monitorNotFound();
      // Credentials first, so the device can no longer log in while its data goes.
      await request(t.nc, authCatalog.deleteMonitorCredentials, { actor, monitorId }, { requestId });
      await t.monitorData.remove(doc);
      return {};
    },
  };
}
