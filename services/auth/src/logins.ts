import { type ClientInfo, type FaceEncoding, TrellisError } from "@trellis/contracts";
import { faceMatches } from "./domain/face.ts";
import type { PasswordHasher } from "./passwords.ts";
import { type AccountKey, type LoginLimits, monitorAccount, userAccount } from "./rate-limit.ts";
import type { LoginLogStore, LoginMethod } from "./store/login-log.ts";
import type { MonitorCredentialDoc, MonitorCredentialsStore } from "./store/monitor-credentials.ts";
import type { UserDoc, UsersStore } from "./store/users.ts";

export const invalidCredentials = (): TrellisError => new TrellisError("unauthenticated", "invalid credentials");

export interface LoginsDeps {
  users: UsersStore;
  monitors: MonitorCredentialsStore;
  loginLog: LoginLogStore;
  passwords: PasswordHasher;
  limits: LoginLimits;
  faceTolerance: number;
  /** Whether a picture exists and belongs to the user (media owns pictures). */
  pictureBelongsTo: (pictureId: string, userId: string) => Promise<boolean>;
}

/**
 * Establishes who is logging in: rate limits first, then the credential, then the login log.
 * An unknown account and a wrong credential give the same answer after the same work.
 */
export class Logins {
  private readonly deps: LoginsDeps;

  constructor(deps: LoginsDeps) {
    this.deps = deps;
  }

  async userByPassword(username: string, password: string, client: ClientInfo): Promise<UserDoc> {
    const user = await this.attemptAsUser(username, client, "password", null, (u) =>
      this.deps.passwords.verify(u?.passwordHash ?? null, password),
    );
    if (this.deps.passwords.isOutdated(user.passwordHash)) {
      await this.deps.users.setPasswordHash(user._id, await this.deps.passwords.hash(password));
    }
    return user;
  }

  /**
   * A face login, optionally naming the picture the encoding came from: that picture is the login's
   * proof in the login log, so it must be one of the user's own (asked of media); someone else's or
   * a missing one fails the login like a face that does not match.
   */
  userByFace(username: string, encoding: FaceEncoding, pictureId: string | null, client: ClientInfo): Promise<UserDoc> {
    return this.attemptAsUser(username, client, "face", pictureId, async (u) => {
      if (!u?.faceEncoding || !faceMatches(u.faceEncoding, encoding, this.deps.faceTolerance)) return false;
      return pictureId === null || this.deps.pictureBelongsTo(pictureId, u._id);
    });
  }

  async monitorByPassword(monitorId: string, password: string, client: ClientInfo): Promise<MonitorCredentialDoc> {
    const account = monitorAccount(monitorId);
    await this.deps.limits.begin(account, client.address);
    const creds = await this.deps.monitors.findById(monitorId);
    const ok = await this.deps.passwords.verify(creds?.passwordHash ?? null, password);
    if (!ok || !creds) throw invalidCredentials();
    await this.deps.limits.succeeded(account, client.address);
    return creds;
  }

  /**
   * Checks an old password of a signed-in user before a change, under the account's failure limit
   * (a stolen session must not become a password oracle).
   */
  async confirmPassword(user: UserDoc, password: string, clientAddress: string): Promise<boolean> {
    const account = userAccount(user.username);
    await this.deps.limits.begin(account, clientAddress);
    const ok = await this.deps.passwords.verify(user.passwordHash, password);
    if (ok) await this.deps.limits.succeeded(account, clientAddress);
    return ok;
  }

  private async attemptAsUser(
    username: string,
    client: ClientInfo,
    method: LoginMethod,
    proofResourceId: string | null,
    check: (user: UserDoc | null) => Promise<boolean>,
  ): Promise<UserDoc> {
    const account: AccountKey = userAccount(username);
    const entry = { usernameLower: username.toLowerCase(), method, clientAddress: client.address, proofResourceId };
    try {
      await this.deps.limits.begin(account, client.address);
    } catch (err) {
      const user = await this.deps.users.findByUsername(username);
      await this.deps.loginLog.record({ ...entry, at: new Date(), userId: user?._id ?? null, success: false });
      throw err;
    }
    const user = await this.deps.users.findByUsername(username);
    const ok = (await check(user)) && user !== null;
    await this.deps.loginLog.record({ ...entry, at: new Date(), userId: user?._id ?? null, success: ok });
    if (!ok || !user) throw invalidCredentials();
    await this.deps.limits.succeeded(account, client.address);
    return user;
  }
}
