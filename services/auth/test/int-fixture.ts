/**
 * What the auth service's integration test files share: one real auth process per file over the
 * file's own NATS server (`useFileStack`) and the shared FerretDB/MongoDB and Redis (a database
 * name and key prefix of its own), called through its catalog exactly as the gateway calls it.
 */
import { createPublicKey, randomBytes } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  AccessClaims,
  authCatalog,
  authEvents,
  type Principal,
  type SessionsRevoked,
  type TokenPair,
  type TrellisError,
  type UserDeleted,
} from "@trellis/contracts";
import { decodeJson, request } from "@trellis/runtime";
import {
  failure as failureOf,
  type ProvidedStack,
  type ServiceProcess,
  serviceEnvFrom,
  startService,
  uniqueSuffix,
} from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import jwt from "jsonwebtoken";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, expect } from "vitest";

export const MAX_PER_ACCOUNT = 3;
export const MAX_PER_CLIENT = 6;
/** Passwords the tests send that must never reach a log line. */
export const MONITOR_PASSWORD = "Monitor-Pass-4821";
export const WRONG_PASSWORD = "Wrong-Password-1";

export const name = (base: string) => `${base}-${randomBytes(3).toString("hex")}`;
export const password = () => `Pw-${randomBytes(6).toString("hex")}`;
export const encoding = Array.from({ length: 128 }, (_, i) => Math.sin(i) / 4);
export const shifted = (by: number) => encoding.map((v, i) => (i === 0 ? v + by : v));
export const failure = (promise: Promise<unknown>) => failureOf<TrellisError>(promise);
export const sessionIdOf = (pair: TokenPair) => pair.refresh_token.split(".")[0] as string;

/** The running auth service of one test file; fields are set once its `beforeAll` has run. */
export class AuthService {
  readonly stack: ProvidedStack;
  readonly suffix = uniqueSuffix();
  readonly adminAccount = { username: `root-${this.suffix}`, password: "Correct-Horse-Battery-9" };
  readonly dbName = `t_auth_${this.suffix}`;
  readonly revokedEvents: SessionsRevoked[] = [];
  readonly deletedEvents: UserDeleted[] = [];
  /** Secrets a test handled (TOTP seeds, recovery codes, MFA challenges): none may reach a log line. */
  readonly testSecrets = new Set<string>();
  /** TOTP seeds are stored sealed with this key. */
  readonly mfaKey = randomBytes(32);
  proc!: ServiceProcess;
  nc!: NatsConnection;
  mongo!: MongoClient;
  db!: Db;
  /** The bootstrap admin, logged in. */
  admin!: Principal;
  private clients = 0;

  constructor(stack: ProvidedStack) {
    this.stack = stack;
  }

  envFor(db: string, instance: string): Record<string, string> {
    return {
      ...serviceEnvFrom(this.stack),
      MONGO_DB: db,
      REDIS_KEY_PREFIX: `t:${this.suffix}:auth:`,
      TRELLIS_ADMIN_USERNAME: this.adminAccount.username,
      TRELLIS_ADMIN_PASSWORD: this.adminAccount.password,
      LOGIN_MAX_FAILURES_PER_ACCOUNT: String(MAX_PER_ACCOUNT),
      LOGIN_MAX_FAILURES_PER_CLIENT: String(MAX_PER_CLIENT),
      MFA_ENCRYPTION_KEY: this.mfaKey.toString("base64"),
      INSTANCE_ID: instance,
      LOG_LEVEL: "debug",
    };
  }

  /** Each test gets its own client address, so per-client failure counts never leak between tests. */
  newClient() {
    return { address: `10.${this.suffix.length}.0.${++this.clients}` };
  }

  async registerUser(base = "user") {
    const account = { username: name(base), password: password() };
    const user = await request(this.nc, authCatalog.register, account);
    return { ...account, id: user.id };
  }

  /** Logs in over v1 and resolves the token: a real principal for `actor` fields. */
  async principalOf(account: { username: string; password: string }): Promise<Principal> {
    const { token } = await request(this.nc, authCatalog.v1LoginUser, { ...account, client: this.newClient() });
    return (await request(this.nc, authCatalog.v1Resolve, { token })).principal;
  }

  async verifyAccessToken(token: string) {
    const { keys } = await request(this.nc, authCatalog.jwks, {});
    const header = jwt.decode(token, { complete: true })?.header;
    const jwk = keys.find((k) => k.kid === header?.kid);
    expect(jwk).toBeDefined();
    const key = createPublicKey({ key: jwk as never, format: "jwk" });
    const payload = jwt.verify(token, key, { algorithms: ["ES256"], issuer: "trellis", audience: "trellis" });
    return AccessClaims.loose().parse(payload);
  }

  /** What of the test secrets a log output contains (expected: nothing). */
  secretsIn(output: string): string[] {
    const found = [
      this.adminAccount.password,
      MONITOR_PASSWORD,
      WRONG_PASSWORD,
      "$argon2id$",
      "PRIVATE KEY",
      "otpauth://",
      ...this.testSecrets,
    ].filter((s) => output.includes(s));
    for (const [what, pattern] of [
      ["a 32-hex token", /"[0-9a-f]{32}"/],
      ["a JWT", /eyJ[A-Za-z0-9_-]+\.eyJ/],
      ["a sealed secret", /a256gcm:/],
    ] as const) {
      if (pattern.test(output)) found.push(what);
    }
    return found;
  }
}

/**
 * Registers the hooks that start the file's auth service (after its NATS server) and stop it; call
 * at the top level of a test file. Every file's auth logs are checked for secrets before it stops.
 */
export function useAuthService(): AuthService {
  const auth = new AuthService(useFileStack());
  const subs: Subscription[] = [];
  beforeAll(async () => {
    const { stack } = auth;
    auth.nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    for (const [spec, sink] of [
      [authEvents.sessionsRevoked, auth.revokedEvents],
      [authEvents.userDeleted, auth.deletedEvents],
    ] as const) {
      subs.push(
        auth.nc.subscribe(spec.subject, {
          callback: (_err, msg) => void (sink as unknown[]).push(spec.schema.parse(decodeJson(msg.data))),
        }),
      );
    }
    await auth.nc.flush();
    auth.mongo = new MongoClient(stack.mongoUrl);
    await auth.mongo.connect();
    auth.db = auth.mongo.db(auth.dbName);
    auth.proc = await startService("auth", auth.envFor(auth.dbName, `auth-${auth.suffix}-1`));
    const grant = await request(auth.nc, authCatalog.passwordGrant, {
      ...auth.adminAccount,
      client: auth.newClient(),
    });
    const claims = await auth.verifyAccessToken(grant.access_token);
    auth.admin = { kind: "user", userId: claims.sub, username: claims.name, role: claims.role, sessionId: claims.sid };
  });
  afterAll(async () => {
    for (const s of subs) s.unsubscribe();
    const leaked = auth.proc ? auth.secretsIn(auth.proc.output()) : [];
    await auth.proc?.stop();
    await auth.nc?.close();
    await auth.mongo?.close();
    expect(leaked, "secrets in the auth service's logs").toEqual([]);
  });
  return auth;
}
