// Must stay the first import: it sizes the thread pool before anything starts it.
import "./thread-pool.ts";
import { AUTH_EVENTS_STREAM, AUTH_EVENTS_SUBJECTS, authCatalog, mediaCatalog } from "@trellis/contracts";
import {
  ensureStream,
  eventPublisher,
  logSetupWarnings,
  openMongo,
  openRedis,
  request,
  runService,
} from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { AccessTokens } from "./access-tokens.ts";
import { bootstrapAdmin } from "./bootstrap.ts";
import { authConfigSchema } from "./config.ts";
import type { AuthContext } from "./context.ts";
import { serveDeviceCallout } from "./device-callout.ts";
import { SecretBox } from "./domain/secret-box.ts";
import { accountSecurityHandlers } from "./handlers/account-security.ts";
import { compatV1Handlers } from "./handlers/compat-v1.ts";
import { monitorHandlers } from "./handlers/monitors.ts";
import { sessionHandlers } from "./handlers/sessions.ts";
import { userHandlers } from "./handlers/users.ts";
import { Logins } from "./logins.ts";
import { PasswordHasher } from "./passwords.ts";
import { LoginLimits } from "./rate-limit.ts";
import { Revocations } from "./revocations.ts";
import { SessionTokens } from "./session-tokens.ts";
import { LoginLogStore } from "./store/login-log.ts";
import { MfaStore } from "./store/mfa.ts";
import { MonitorCredentialsStore } from "./store/monitor-credentials.ts";
import { SessionsStore } from "./store/sessions.ts";
import { SigningKeysStore } from "./store/signing-keys.ts";
import { UsersStore } from "./store/users.ts";
import { startSessionSweeper } from "./sweeper.ts";
import { TwoFactor } from "./two-factor.ts";

await runService({
  name: "auth",
  version: pkg.version,
  catalog: authCatalog,
  config: authConfigSchema,
  async start({ config, log, nc, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    const redis = await openRedis({ shutdown, instance, log }, config.REDIS_URL);
    const stream = await ensureStream(nc, {
      name: AUTH_EVENTS_STREAM,
      subjects: [AUTH_EVENTS_SUBJECTS],
      num_replicas: config.JETSTREAM_REPLICAS,
    });
    logSetupWarnings(log, stream);
    const events = eventPublisher(nc);

    const users = new UsersStore(mongo.db);
    const sessions = new SessionsStore(mongo.db);
    const monitors = new MonitorCredentialsStore(mongo.db);
    const loginLog = new LoginLogStore(mongo.db);
    await Promise.all([users, sessions, monitors, loginLog].map((s) => s.ensureIndexes()));

    const [passwords, accessTokens] = await Promise.all([
      PasswordHasher.create({
        memoryCost: config.ARGON2_MEMORY_KIB,
        timeCost: config.ARGON2_TIME_COST,
        parallelism: config.ARGON2_PARALLELISM,
      }),
      AccessTokens.load(new SigningKeysStore(mongo.db), {
        issuer: config.JWT_ISSUER,
        audience: config.JWT_AUDIENCE,
        ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      }),
    ]);
    log.info({ kid: accessTokens.kid }, "signing key loaded");

    if (config.TRELLIS_ADMIN_USERNAME && config.TRELLIS_ADMIN_PASSWORD) {
      await bootstrapAdmin(
        { users, passwords, log },
        { username: config.TRELLIS_ADMIN_USERNAME, password: config.TRELLIS_ADMIN_PASSWORD },
      );
    }

    const limits = new LoginLimits(redis, {
      keyPrefix: config.REDIS_KEY_PREFIX,
      windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
      maxFailuresPerAccount: config.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerClient: config.LOGIN_MAX_FAILURES_PER_CLIENT,
    });
    const revocations = new Revocations(sessions, events);
    if (!config.MFA_ENCRYPTION_KEY) log.warn("MFA_ENCRYPTION_KEY is not set: TOTP secrets are stored unencrypted");
    const auth: AuthContext = {
      config,
      users,
      sessions,
      monitors,
      loginLog,
      passwords,
      accessTokens,
      revocations,
      events,
      twoFactor: new TwoFactor({
        store: new MfaStore(mongo.db),
        users,
        loginLog,
        limits,
        box: new SecretBox(config.MFA_ENCRYPTION_KEY ?? null),
        redis,
        keyPrefix: config.REDIS_KEY_PREFIX,
        issuer: config.MFA_ISSUER,
        challengeTtlSeconds: config.MFA_CHALLENGE_TTL_SECONDS,
      }),
      logins: new Logins({
        users,
        monitors,
        loginLog,
        passwords,
        limits,
        faceTolerance: config.FACE_TOLERANCE,
        pictureBelongsTo: async (pictureId, userId) =>
          (await request(nc, mediaCatalog.pictureBelongsTo, { pictureId, userId })).belongs,
      }),
      sessionTokens: new SessionTokens({
        sessions,
        users,
        loginLog,
        accessTokens,
        revocations,
        refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
        v1TtlSeconds: config.V1_TOKEN_TTL_SECONDS,
      }),
    };

    shutdown.add("session sweeper", startSessionSweeper(sessions, log));

    if (config.NATS_CALLOUT_ISSUER_SEED) {
      const callout = serveDeviceCallout(nc, auth.logins, log, {
        issuerSeed: config.NATS_CALLOUT_ISSUER_SEED,
        account: config.NATS_ACCOUNT,
        ttlSeconds: config.DEVICE_NATS_TTL_SECONDS,
      });
      shutdown.add("device auth callout", () => callout.stop());
    } else {
      log.warn("NATS_CALLOUT_ISSUER_SEED is not set: monitors cannot connect to NATS directly");
    }

    return {
      handlers: {
        ...userHandlers(auth),
        ...sessionHandlers(auth),
        ...accountSecurityHandlers(auth),
        ...compatV1Handlers(auth),
        ...monitorHandlers(auth),
      },
      checks: {
        mongo: mongo.ping,
        redis: async () => {
          await redis.ping();
        },
      },
    };
  },
});
