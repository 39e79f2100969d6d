/**
 * What the device simulator needs from a running platform: an admin token over HTTP, an owner,
 * monitors with credentials, and one NATS connection per monitor, as that monitor.
 */
import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import type { PublishTarget } from "./publisher.ts";
import { readingGenerator } from "./readings.ts";

export interface DeviceCredentials {
  id: string;
  password: string;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** One JSON call to the gateway. */
export async function api(
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; bearer?: string } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.json !== undefined) headers["content-type"] = "application/json";
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  const res = await fetch(new URL(path, base), {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

function expectStatus(res: ApiResponse, status: number, what: string): Record<string, unknown> {
  if (res.status !== status) {
    const detail = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
    throw new Error(`${what}: HTTP ${res.status} ${detail?.slice(0, 300) ?? ""}`);
  }
  return res.body as Record<string, unknown>;
}

/** Logs in with the password grant and returns the access token. */
export async function login(base: string, username: string, password: string): Promise<string> {
  const res = await api(base, "POST", "/api/v2/auth/token", { json: { grant_type: "password", username, password } });
  return expectStatus(res, 200, `login as ${username}`).access_token as string;
}

const strongPassword = (prefix: string) => `${prefix}-${randomBytes(12).toString("base64url")}`;

/** Creates a user (admin) to own the simulated monitors; returns its id. */
export async function createOwner(base: string, adminToken: string, username?: string): Promise<string> {
  const name = username ?? `sim-owner-${randomBytes(4).toString("hex")}`;
  const res = await api(base, "POST", "/api/v2/users", {
    bearer: adminToken,
    json: { username: name, password: strongPassword("Owner"), role: "user" },
  });
  return expectStatus(res, 201, `create user ${name}`).id as string;
}

/** Creates monitors (admin) with fresh 32-hex ids and random passwords, `concurrency` at a time. */
export async function createMonitors(
  base: string,
  adminToken: string,
  ownerId: string,
  count: number,
  options: { concurrency?: number; onProgress?: (done: number) => void } = {},
): Promise<DeviceCredentials[]> {
  const out: DeviceCredentials[] = [];
  await inBatches(count, options.concurrency ?? 8, async () => {
    const monitor = { id: randomBytes(16).toString("hex"), password: strongPassword("Device") };
    const res = await api(base, "POST", "/api/v2/monitors", {
      bearer: adminToken,
      json: { id: monitor.id, owner_id: ownerId, password: monitor.password },
    });
    expectStatus(res, 201, `create monitor ${monitor.id}`);
    out.push(monitor);
    options.onProgress?.(out.length);
  });
  return out;
}

/** `nats://a:4222,nats://b:4223` → the servers of a cluster, any of which a device may use. */
export const natsServers = (urls: string): string[] =>
  urls
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);

/**
 * Connects as the monitor itself (auth callout checks its password), with its own inbox prefix.
 * `natsUrl` may list several servers (comma-separated, a cluster): the device connects to one and
 * moves to another when that one is lost, reconnecting for as long as the cluster takes to come back.
 */
export function connectDevice(natsUrl: string, device: DeviceCredentials): Promise<NatsConnection> {
  return connect({
    servers: natsServers(natsUrl),
    user: device.id,
    pass: device.password,
    inboxPrefix: deviceSubjects.inboxPrefix(device.id),
    name: `simulated-monitor-${device.id}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // After a NATS restart every device logs in again through the auth callout at once; an answer
    // that comes late (auth reconnecting too, argon2 under load) is an auth error, which nats.js
    // would otherwise take, the second time, as final and close the connection.
    ignoreAuthErrorAbort: true,
    // No stack trace captured per publish (nats.js does it by default in case of a timeout): the
    // simulator is a load generator sharing the machine with what it measures.
    noAsyncTraces: true,
  });
}

/** Connects every device, `concurrency` at a time; on a failure closes what was opened and throws. */
export async function connectDevices(
  natsUrl: string,
  devices: readonly DeviceCredentials[],
  options: { concurrency?: number; onProgress?: (done: number) => void; attempts?: number } = {},
): Promise<NatsConnection[]> {
  const conns: NatsConnection[] = new Array(devices.length);
  let done = 0;
  try {
    await inBatches(devices.length, options.concurrency ?? 8, async (i) => {
      const device = devices[i] as DeviceCredentials;
      // A refused or failed first connection is tried again for a while: NATS restarting (npm
      // start's supervisor), or the auth service's callout answer late on a loaded machine, is
      // answered "Authorization Violation" or a connection error, and passes.
      for (let attempt = 1; ; attempt++) {
        try {
          conns[i] = await connectDevice(natsUrl, device);
          break;
        } catch (err) {
          if (attempt >= (options.attempts ?? 6)) {
            throw new Error(`monitor ${device.id} could not connect to ${natsUrl}: ${(err as Error).message}`);
          }
          await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * 2 ** (attempt - 1))));
        }
      }
      options.onProgress?.(++done);
    });
  } catch (err) {
    await closeAll(conns.filter(Boolean));
    throw err;
  }
  return conns;
}

/**
 * One publish target per connected monitor: its readings subject, realistic readings stamped with
 * the time they are generated (= published), and a unique `Nats-Msg-Id` per reading.
 * `onReading(index, timestamp)` sees every reading as it is generated.
 */
export function deviceTargets(
  devices: readonly DeviceCredentials[],
  conns: readonly NatsConnection[],
  options: { onReading?: (index: number, timestamp: number) => void } = {},
): PublishTarget[] {
  const run = randomBytes(4).toString("hex");
  return devices.map((device, index) => {
    const readings = readingGenerator(device.id);
    let n = 0;
    return {
      name: device.id,
      js: jetstream(conns[index] as NatsConnection),
      subject: deviceSubjects.readings(device.id),
      next() {
        const reading = readings.next(Date.now());
        options.onReading?.(index, reading.timestamp);
        return { payload: JSON.stringify(reading), msgID: `sim-${device.id}-${run}-${++n}` };
      },
    };
  });
}

export async function closeAll(conns: readonly (NatsConnection | undefined)[]): Promise<void> {
  await Promise.all(conns.map((nc) => nc?.close().catch(() => {})));
}

/**
 * Runs `task(i)` for i in [0, count), at most `concurrency` at once. After a failure no new task
 * starts; it rejects with the first failure once the running ones have settled.
 */
async function inBatches(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count && !failure) {
        try {
          await task(next++);
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure) throw failure.error;
}

/** Reads `[{ id, password }]` from a credentials file's text. */
export function parseCredentials(text: string, source: string): DeviceCredentials[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value) || value.length === 0) throw new Error(`${source}: expected a non-empty array`);
  return value.map((v, i) => {
    const c = v as Partial<DeviceCredentials>;
    if (typeof c?.id !== "string" || !/^[0-9a-fA-F]{32}$/.test(c.id)) {
      throw new Error(`${source}[${i}]: id must be 32 hexadecimal characters`);
    }
    if (typeof c.password !== "string" || c.password.length === 0) {
      throw new Error(`${source}[${i}]: password is required`);
    }
    return { id: c.id.toLowerCase(), password: c.password };
  });
}
