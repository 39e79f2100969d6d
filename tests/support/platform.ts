/**
 * A running slice of the platform for integration tests: real service processes against the
 * file's servers (`useFileStack`: its own NATS server, shared MongoDB and Redis with per-file
 * database names and Redis key prefixes), and HTTP helpers.
 */
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { authCatalog, type Principal } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { freePort } from "@trellis/stack";
import {
  type ProvidedStack,
  poll,
  type ServiceProcess,
  serviceEnvFrom,
  startService,
  uniqueSuffix,
} from "@trellis/stack/testing";
import { expect } from "vitest";

export const ADMIN = { username: "root-admin", password: "Correct-Horse-Battery-9" };

export interface Platform {
  suffix: string;
  env: (service: string, extra?: Record<string, string>) => Record<string, string>;
  /** Base URLs of the started gateways. */
  gateways: string[];
  base: string;
  procs: ServiceProcess[];
  dbName: (service: string) => string;
  stop(): Promise<void>;
}

export async function startPlatform(options: {
  /** The file's servers, from `useFileStack()`. */
  stack: ProvidedStack;
  services: string[];
  gateways?: number;
  extraEnv?: Record<string, string>;
}): Promise<Platform> {
  const { stack } = options;
  const suffix = uniqueSuffix();
  const dbName = (service: string) => `t_${service}_${suffix}`;
  const env = (service: string, extra: Record<string, string> = {}) => ({
    ...serviceEnvFrom(stack),
    MONGO_DB: dbName(service),
    REDIS_KEY_PREFIX: `t:${suffix}:${service}:`,
    TRELLIS_ADMIN_USERNAME: ADMIN.username,
    TRELLIS_ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: "debug",
    INSTANCE_ID: `${service}-${suffix}`,
    ...options.extraEnv,
    ...extra,
  });
  // What started is stopped again if anything fails on the way (a test file whose beforeAll
  // throws has no platform to stop in its afterAll).
  const procs: ServiceProcess[] = [];
  const gateways: string[] = [];
  try {
    const started = await Promise.allSettled(options.services.map((s) => startService(s, env(s))));
    for (const r of started) if (r.status === "fulfilled") procs.push(r.value);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    for (let i = 0; i < (options.gateways ?? 1); i++) {
      const port = await freePort();
      procs.push(
        await startService("gateway", env("gateway", { PORT: String(port), INSTANCE_ID: `gateway-${suffix}-${i}` })),
      );
      gateways.push(`http://127.0.0.1:${port}`);
    }
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    throw err;
  }
  const platform: Platform = {
    suffix,
    env,
    gateways,
    base: gateways[0] as string,
    procs,
    dbName,
    // `platform.procs` as it is then: tests add and replace processes (a second instance, a restart).
    stop: async () => {
      await Promise.all(platform.procs.map((p) => p.stop()));
    },
  };
  return platform;
}

export interface HttpReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are asserted field by field
  body: any;
  headers: Headers;
}

export async function http(
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; form?: Record<string, string>; bearer?: string; headers?: Record<string, string> } = {},
): Promise<HttpReply> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(options.form).toString();
  }
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** An answer read whole, for byte routes: its bytes and, when it is JSON, the parsed body. */
export interface BytesReply {
  status: number;
  headers: Headers;
  bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are asserted field by field
  json: any;
}

/** One request with a raw or multipart body (or none), for the media routes that take and give bytes. */
export async function sendBytes(
  base: string,
  method: string,
  path: string,
  options: { bearer?: string | undefined; body?: Uint8Array | FormData; headers?: Record<string, string> } = {},
): Promise<BytesReply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  if ((res.headers.get("content-type") ?? "").includes("json") && bytes.length > 0) {
    json = JSON.parse(bytes.toString("utf8"));
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

/** A registered user as the tests hold one: who they are, how they log in, a v2 access token. */
export interface Account {
  id: string;
  username: string;
  password: string;
  bearer: string;
}

/** Registers a user named `<prefix>-<suffix>` and logs them in (v2). */
export async function registerUser(base: string, suffix: string, prefix: string): Promise<Account> {
  const username = `${prefix}-${suffix}`;
  const password = `Pw-${randomBytes(6).toString("hex")}`;
  const reg = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  const token = await http(base, "POST", "/api/v2/auth/token", {
    form: { grant_type: "password", username, password },
  });
  expect(token.status, JSON.stringify(token.body)).toBe(200);
  return { id: reg.body.id, username, password, bearer: token.body.access_token };
}

/** A user's tokens for both APIs: the 32-hex v1 token and a v2 access token. */
export interface Tokens {
  v1Token: string;
  bearer: string;
}

/** Logs a user in through both APIs at once (each must answer 200). */
export async function loginBoth(base: string, username: string, password: string): Promise<Tokens> {
  const [v1, v2] = await Promise.all([
    http(base, "POST", "/api/v1/login/user", { json: { username, password } }),
    http(base, "POST", "/api/v2/auth/token", { form: { grant_type: "password", username, password } }),
  ]);
  expect(v1.status, JSON.stringify(v1.body)).toBe(200);
  expect(v2.status, JSON.stringify(v2.body)).toBe(200);
  return { v1Token: v1.body.data.token, bearer: v2.body.access_token };
}

/** A registered user with tokens for both APIs. */
export type AccountWithTokens = Account & Tokens;

/** The platform's admin (TRELLIS_ADMIN_*) logged in through both APIs, with its user id. */
export async function loginAdmin(base: string): Promise<AccountWithTokens> {
  const tokens = await loginBoth(base, ADMIN.username, ADMIN.password);
  const me = await http(base, "GET", "/api/v2/me", { bearer: tokens.bearer });
  expect(me.status, JSON.stringify(me.body)).toBe(200);
  return { id: me.body.userId, ...ADMIN, ...tokens };
}

/** Registers a user named `<prefix>-<suffix>` (v2) and logs them in through both APIs. */
export async function registerWithTokens(base: string, suffix: string, prefix: string): Promise<AccountWithTokens> {
  const username = `${prefix}-${suffix}`;
  const password = `Pw-${randomBytes(6).toString("hex")}`;
  const res = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, username, password, ...(await loginBoth(base, username, password)) };
}

/**
 * A monitor of `ownerId` created through `POST /api/v2/monitors` (telemetry running) by an admin,
 * logged in through `/api/v1/login/monitor`: its id and v1 token.
 */
export async function createMonitor(
  base: string,
  adminBearer: string,
  ownerId: string,
): Promise<{ id: string; token: string }> {
  const id = randomBytes(16).toString("hex");
  const password = `Monitor-${randomBytes(6).toString("hex")}`;
  const created = await http(base, "POST", "/api/v2/monitors", {
    bearer: adminBearer,
    json: { id, owner_id: ownerId, password },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const login = await http(base, "POST", "/api/v1/login/monitor", { json: { monitor_id: id, password } });
  expect(login.status).toBe(200);
  return { id, token: login.body.data.token };
}

/**
 * A monitor of `ownerId` whose credentials are set straight in auth (for files that run no
 * telemetry), logged in through `/api/v1/login/monitor`: its id and v1 token.
 */
export async function monitorStraightInAuth(
  nc: NatsConnection,
  base: string,
  adminId: string,
  ownerId: string,
): Promise<{ id: string; token: string }> {
  const id = randomBytes(16).toString("hex");
  const password = `Monitor-Pw-${randomBytes(4).toString("hex")}`;
  const actor: Principal = {
    kind: "user",
    userId: adminId,
    username: ADMIN.username,
    role: "admin",
    sessionId: "test-session-0000",
  };
  await request(nc, authCatalog.setMonitorCredentials, { actor, monitorId: id, ownerId, password });
  const login = await http(base, "POST", "/api/v1/login/monitor", { json: { monitor_id: id, password } });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return { id, token: login.body.data.token };
}

/** Polls until `ok` holds or `ms` pass; returns the last value and the time it took. */
export const within = <T>(ms: number, probe: () => Promise<T>, ok: (v: T) => boolean) =>
  poll(probe, ok, { timeoutMs: ms });

/** Polls `GET /api/v2/me` on `gateway` until the token is refused (401) or `ms` pass. */
export const refusedWithin = (ms: number, gateway: string, bearer: string) =>
  within(
    ms,
    () => http(gateway, "GET", "/api/v2/me", { bearer }),
    (r) => r.status === 401,
  );
