import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { PasswordHasher } from "./passwords.ts";
import type { UsersStore } from "./store/users.ts";

/**
 * Creates the first admin when no user has its username. Never touches an existing account (its
 * password is not reset), and two instances starting at once create it once: the loser's
 * duplicate username is fine.
 */
export async function bootstrapAdmin(
  deps: { users: UsersStore; passwords: PasswordHasher; log: Logger },
  admin: { username: string; password: string },
): Promise<void> {
  const existing = await deps.users.findByUsername(admin.username);
  if (existing) {
    if (existing.role !== "admin") {
      deps.log.warn({ userId: existing._id }, "bootstrap admin username belongs to a non-admin user; left unchanged");
    }
    return;
  }
  const result = await deps.users.create({
    id: randomUUID(),
    username: admin.username,
    email: null,
    role: "admin",
    passwordHash: await deps.passwords.hash(admin.password),
    createdAt: new Date(),
  });
  if (result.ok) deps.log.info({ userId: result.user._id }, "bootstrap admin created");
}
