/**
 * What the telemetry service's integration test files share: a real telemetry process (with a real
 * auth process) per file over the file's own NATS server (`useFileStack`) and the shared
 * FerretDB/MongoDB and Redis (database names and a key prefix of its own), called through its
 * catalog, with readings published the way devices send them.
 */
import { randomBytes } from "node:crypto";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  authCatalog,
  deviceSubjects,
  type Principal,
  type RequestOf,
  type TrellisError,
  telemetryCatalog,
} from "@trellis/contracts";
import { encodeJson, readAll, request, requestStream } from "@trellis/runtime";
import type { ProvidedStack, ServiceProcess } from "@trellis/stack/testing";
import { failure as failureOf, poll, serviceEnvFrom, startService, uniqueSuffix } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import jwt from "jsonwebtoken";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll } from "vitest";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
/** The client address logins are made from. */
export const client = { address: "10.9.0.1" };

export const monitorId = () => randomBytes(16).toString("hex");
export const password = () => `Pw-${randomBytes(8).toString("hex")}`;
export const failure = (promise: Promise<unknown>) => failureOf<TrellisError>(promise);

/** Polls until `probe` returns a value that satisfies `ok`; returns the last value either way. */
export const until = async <T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> =>
  (await poll(probe, ok, { timeoutMs, intervalMs: 50 })).value;

/** The running telemetry (and auth) of one test file; fields are set once its `beforeAll` has run. */
export class TelemetryService {
  readonly stack: ProvidedStack;
  readonly suffix = uniqueSuffix();
  readonly adminAccount = { username: `root-${this.suffix}`, password: "Correct-Horse-Battery-9" };
  readonly dbName = `t_tel_${this.suffix}`;
  auth!: ServiceProcess;
  /** Instance 1; a test that stops it starts it again with `startTelemetry()`. */
  telemetry!: ServiceProcess;
  nc!: NatsConnection;
  js!: JetStreamClient;
  mongo!: MongoClient;
  db!: Db;
  /** The bootstrap admin, logged in. */
  admin!: Principal;

  constructor(stack: ProvidedStack) {
    this.stack = stack;
  }

  authEnv(): Record<string, string> {
    return {
      ...serviceEnvFrom(this.stack),
      MONGO_DB: `t_tel_auth_${this.suffix}`,
      REDIS_KEY_PREFIX: `t:${this.suffix}:tel-auth:`,
      TRELLIS_ADMIN_USERNAME: this.adminAccount.username,
      TRELLIS_ADMIN_PASSWORD: this.adminAccount.password,
      INSTANCE_ID: `auth-${this.suffix}`,
    };
  }

  /** Telemetry instance `n` (all instances share one database). */
  telemetryEnv(n: number): Record<string, string> {
    return {
      ...serviceEnvFrom(this.stack),
      MONGO_DB: this.dbName,
      INSTANCE_ID: `telemetry-${this.suffix}-${n}`,
      LOG_LEVEL: "debug",
      // Small batches so that two instances side by side both get work.
      INGEST_BATCH_SIZE: "20",
      INGEST_ROUND_SIZE: "40",
      INGEST_MAX_WAIT_MS: "50",
    };
  }

  /** Starts telemetry instance `n`; instance 1 (the default) becomes `telemetry` again. */
  async startTelemetry(n = 1): Promise<ServiceProcess> {
    const proc = await startService("telemetry", this.telemetryEnv(n));
    if (n === 1) this.telemetry = proc;
    return proc;
  }

  async registerUser() {
    const account = { username: `u-${randomBytes(4).toString("hex")}`, password: password() };
    const user = await request(this.nc, authCatalog.register, account);
    const { token } = await request(this.nc, authCatalog.v1LoginUser, { ...account, client });
    const { principal } = await request(this.nc, authCatalog.v1Resolve, { token });
    return { id: user.id, principal };
  }

  async addMonitor(ownerId: string) {
    const id = monitorId();
    const pw = password();
    await request(this.nc, telemetryCatalog.addMonitor, { actor: this.admin, monitorId: id, ownerId, password: pw });
    return { id, password: pw };
  }

  async monitorPrincipal(id: string, pw: string): Promise<Principal> {
    const { token } = await request(this.nc, authCatalog.v1LoginMonitor, { monitorId: id, password: pw, client });
    return (await request(this.nc, authCatalog.v1Resolve, { token })).principal;
  }

  /** A monitor as the admin sees it. */
  getMonitor(id: string) {
    return request(this.nc, telemetryCatalog.getMonitor, { actor: this.admin, monitorId: id });
  }

  publishReading(id: string, reading: unknown, msgID?: string) {
    return this.js.publish(deviceSubjects.readings(id), encodeJson(reading), msgID ? { msgID } : undefined);
  }

  publishRaw(id: string, text: string) {
    return this.js.publish(deviceSubjects.readings(id), new TextEncoder().encode(text));
  }

  /** Seed 002 monitors/get is a stream (it grows with the data): read it whole. */
  async v1Get(payload: RequestOf<typeof telemetryCatalog.v1Get>): Promise<unknown> {
    const { chunks } = await requestStream(this.nc, telemetryCatalog.v1Get, payload);
    return JSON.parse((await readAll(chunks)).toString());
  }

  /** Readings stored for a monitor, a reading stored twice counted twice. */
  async storedCount(id: string): Promise<number> {
    const buckets = await this.db.collection<{ count: number }>("reading_buckets").find({ monitorId: id }).toArray();
    return buckets.reduce((n, d) => n + d.count, 0);
  }

  waitForCount(id: string, n: number, timeoutMs?: number): Promise<number> {
    return until(
      () => this.storedCount(id),
      (c) => c >= n,
      timeoutMs,
    );
  }
}

/** Registers the hooks that start the file's auth and telemetry (after its NATS server) and stop them. */
export function useTelemetryService(): TelemetryService {
  const tel = new TelemetryService(useFileStack());
  beforeAll(async () => {
    const { stack } = tel;
    tel.nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    tel.js = jetstream(tel.nc);
    tel.mongo = new MongoClient(stack.mongoUrl);
    await tel.mongo.connect();
    tel.db = tel.mongo.db(tel.dbName);
    [tel.auth] = await Promise.all([startService("auth", tel.authEnv()), tel.startTelemetry()]);
    const grant = await request(tel.nc, authCatalog.passwordGrant, { ...tel.adminAccount, client });
    const claims = jwt.decode(grant.access_token) as { sub: string; sid: string; name: string; role: "admin" };
    tel.admin = { kind: "user", userId: claims.sub, username: claims.name, role: claims.role, sessionId: claims.sid };
  });
  afterAll(async () => {
    await Promise.all([tel.telemetry?.stop(), tel.auth?.stop()]);
    await tel.nc?.close();
    await tel.mongo?.close();
  });
  return tel;
}
