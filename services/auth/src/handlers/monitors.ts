import { TrellisError } from "@trellis/contracts";
import type { AuthContext } from "../context.ts";
import { requireAdmin } from "../domain/authorization.ts";
import { assertPasswordPolicy } from "../domain/password-policy.ts";
import type { AuthHandlers } from "./types.ts";

type MonitorHandlers = Pick<AuthHandlers, "setMonitorCredentials" | "deleteMonitorCredentials">;

/** Device credentials for the seed 002 monitor login. */
export function monitorHandlers(auth: AuthContext): MonitorHandlers {
  // not_found (v2: 404, as documented); the v1 layer answers it as the seed does, 400.
  const ownerMissing = () => new TrellisError("not_found", "user_id does not exist");

  return {
    async setMonitorCredentials({ actor, monitorId, ownerId, password }) {
      requireAdmin(actor);
      if (!(await auth.users.findById(ownerId))) throw ownerMissing();
      // The full policy, except the username rule: a monitor has no username.
      assertPasswordPolicy(password);
      const created = await auth.monitors.create({
        _id: monitorId,
        ownerId,
        passwordHash: await auth.passwords.hash(password),
        createdAt: new Date(),
      });
      if (!created) throw new TrellisError("conflict", "monitor credentials already exist");
      // The owner may have been deleted meanwhile: take the credentials back rather than orphan them.
      if (!(await auth.users.findById(ownerId))) {
        await auth.monitors.delete(monitorId);
        throw ownerMissing();
      }
      return {};
    },

    async deleteMonitorCredentials({ actor, monitorId }) {
      requireAdmin(actor);
      const deleted = await auth.monitors.delete(monitorId);
      // Always: sessions left behind by an earlier, interrupted deletion end too.
      await auth.revocations.allOfMonitor(monitorId, "monitor_deleted");
      return { deleted };
    },
  };
}
