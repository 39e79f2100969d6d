import { authCatalog, TrellisError } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { TelemetryContext } from "../context.ts";
import { forbidden, isAdmin, requireAdmin, requireUser } from "../domain/authorization.ts";
import { monitorNotFound, readableMonitor } from "./access.ts";
import { monitorView } from "./monitor-view.ts";
import type { TelemetryHandlers } from "./types.ts";

type MonitorHandlers = Pick<
  TelemetryHandlers,
  "addMonitor" | "getMonitor" | "listMonitors" | "resetMonitor" | "deleteMonitor"
>;

export function monitorHandlers(t: TelemetryContext): MonitorHandlers {
  const { monitors } = t;
  const conflict = () => new TrellisError("conflict", "monitor_id already exists");

  return {
    async addMonitor({ actor, monitorId, ownerId, password }, { requestId }) {
      requireAdmin(actor);
      if (await monitors.findSummary(monitorId)) throw conflict();
      // Credentials first: auth checks the owner and the password policy, and refuses a taken id.
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
      return monitorView(doc);
    },

    async getMonitor({ actor, monitorId }) {
      return monitorView(await readableMonitor(monitors, actor, monitorId));
    },

    async listMonitors({ actor, ownerId, limit, cursor }) {
      const user = requireUser(actor);
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
