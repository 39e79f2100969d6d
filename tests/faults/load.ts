/**
 * The fault suite's mixed load, each part recording what the platform promised (an ack, a 200)
 * so the checkers can hold it to that afterwards:
 * - devices publishing readings straight to JetStream with acks, connected over every NATS URL,
 *   retrying a failed publish with the same `Nats-Msg-Id` (a reading is known by its timestamp);
 * - v1 `monitors/update` through every gateway in turn (known by a counter written as its
 *   `electrical_conductivity`; not retried: the v1 API has no idempotency key, so a failure's
 *   reading may or may not be stored, but never twice);
 * - v2 readings through every gateway in turn, retried with the same `Idempotency-Key` until a 200.
 */
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { withJsRetry } from "@trellis/runtime";
import type { DeviceCredentials } from "../../scripts/devices/platform.ts";
import { readingGenerator } from "../../scripts/devices/readings.ts";
import { sleep } from "./prng.ts";

export interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

/** One HTTP call; status 0 when the connection failed (refused, reset), -1 when no answer came within `timeoutMs`. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; bearer?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) headers["content-type"] = "application/json";
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  try {
    const res = await fetch(new URL(path, base), {
      method,
      headers,
      ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body, headers: res.headers };
  } catch (err) {
    const timedOut = (err as Error).name === "TimeoutError";
    return { status: timedOut ? -1 : 0, body: undefined, headers: new Headers() };
  }
}

/** Calls until `ok(answer)` or `forMs` passed, every `everyMs`, over the gateways in turn: the last answer. */
export async function retrying(
  gateways: readonly string[],
  attempt: (base: string) => Promise<HttpAnswer>,
  ok: (a: HttpAnswer) => boolean,
  forMs = 60_000,
  everyMs = 500,
): Promise<HttpAnswer> {
  const until = Date.now() + forMs;
  for (let i = 0; ; i++) {
    const a = await attempt(gateways[i % gateways.length] as string);
    if (ok(a) || Date.now() > until) return a;
    await sleep(everyMs);
  }
}

/** Statuses seen, by status. */
export class StatusCounts {
  readonly byStatus = new Map<number, number>();
  add(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }
  get total(): number {
    return [...this.byStatus.values()].reduce((a, b) => a + b, 0);
  }
  count(status: number): number {
    return this.byStatus.get(status) ?? 0;
  }
  toString(): string {
    return [...this.byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s === 0 ? "connection failed" : s === -1 ? "no answer in 20 s" : s}: ${n}`)
      .join(", ");
  }
}

/** What one monitor's load expects to find stored: keys that must be there once, keys that may be. */
export interface Expectation {
  monitorId: string;
  /** How a stored reading is known: its timestamp, or its electrical_conductivity (v1). */
  key: "at" | "ec";
  must: Set<number>;
  may: Set<number>;
}

/** Devices publishing with acks, `ratePerDevice` readings per second each, until stopped. */
export class DeviceLoad {
  readonly expectations: Expectation[];
  sent = 0;
  acked = 0;
  /** Acks that said "duplicate": a retry of a reading stored before (not stored again). */
  duplicateAcks = 0;
  failed = 0;
  /** Why publishes failed (after their retries), and how often. */
  readonly failures = new Map<string, number>();
  private readonly devices: readonly DeviceCredentials[];
  private readonly conns: readonly NatsConnection[];
  private readonly random: () => number;

  constructor(devices: readonly DeviceCredentials[], conns: readonly NatsConnection[], random: () => number) {
    this.devices = devices;
    this.conns = conns;
    this.random = random;
    this.expectations = devices.map((d) => ({ monitorId: d.id, key: "at", must: new Set(), may: new Set() }));
  }

  async run(signal: AbortSignal, ratePerDevice: number): Promise<void> {
    const pending = new Set<Promise<void>>();
    await Promise.all(
      this.devices.map(async (device, i) => {
        const js = jetstream(this.conns[i] as NatsConnection);
        const gen = readingGenerator(device.id, this.random);
        const exp = this.expectations[i] as Expectation;
        let last = 0;
        let n = 0;
        const subject = deviceSubjects.readings(device.id);
        while (!signal.aborted) {
          const at = Math.max(Date.now(), last + 1);
          last = at;
          const payload = JSON.stringify({ ...gen.next(at), timestamp: at });
          const msgID = `faults-${device.id}-${++n}`;
          this.sent++;
          exp.may.add(at);
          const p = withJsRetry(() => js.publish(subject, payload, { msgID, timeout: 5_000 }), {
            deadlineMs: 90_000,
            maxDelayMs: 1_000,
          }).then(
            (ack) => {
              this.acked++;
              if (ack.duplicate) this.duplicateAcks++;
              exp.may.delete(at);
              exp.must.add(at);
            },
            (err: unknown) => {
              this.failed++;
              const reason = ((err as Error)?.message ?? String(err)).slice(0, 120);
              this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
            },
          );
          pending.add(p);
          void p.finally(() => pending.delete(p));
          // A device that cannot get acks keeps at most 50 readings in flight, as a real one would buffer.
          while (pending.size > 50 * this.devices.length && !signal.aborted) await sleep(100);
          await sleep(1_000 / ratePerDevice, signal);
        }
      }),
    );
    await Promise.all(pending);
  }
}

/** v1 `monitors/update` (each monitor with its own v1 token), over the gateways in turn. */
export class V1Load {
  readonly expectations: Expectation[];
  readonly statuses = new StatusCounts();
  private readonly monitors: readonly DeviceCredentials[];
  private readonly gateways: readonly string[];

  constructor(monitors: readonly DeviceCredentials[], gateways: readonly string[]) {
    this.monitors = monitors;
    this.gateways = gateways;
    this.expectations = monitors.map((m) => ({ monitorId: m.id, key: "ec", must: new Set(), may: new Set() }));
  }

  private async token(m: DeviceCredentials): Promise<string> {
    const a = await retrying(
      this.gateways,
      (base) => call(base, "POST", "/api/v1/login/monitor", { json: { monitor_id: m.id, password: m.password } }),
      (x) => x.status === 200,
    );
    if (a.status !== 200) throw new Error(`v1 login of ${m.id}: ${a.status} ${JSON.stringify(a.body)}`);
    return (a.body as { data: { token: string } }).data.token;
  }

  async run(signal: AbortSignal, everyMs: number): Promise<void> {
    await Promise.all(
      this.monitors.map(async (m, i) => {
        const exp = this.expectations[i] as Expectation;
        let token = await this.token(m);
        for (let n = 1; !signal.aborted; n++) {
          const base = this.gateways[n % this.gateways.length] as string;
          const a = await call(base, "POST", "/api/v1/monitors/update", {
            json: { token, monitor_id: m.id, ph: 5.5 + (n % 10) / 10, electrical_conductivity: n },
          });
          this.statuses.add(a.status);
          if (a.status === 200) exp.must.add(n);
          else exp.may.add(n);
          if (a.status === 401) token = await this.token(m);
          await sleep(everyMs, signal);
        }
      }),
    );
  }
}

/** v2 readings with an `Idempotency-Key`, retried with the same key (any gateway) until a 200. */
export class V2Load {
  readonly expectations: Expectation[];
  /** Statuses of every attempt. */
  readonly statuses = new StatusCounts();
  /** Readings answered 200 (at some attempt) and readings given up on. */
  ok = 0;
  gaveUp = 0;
  private readonly monitors: readonly DeviceCredentials[];
  private readonly gateways: readonly string[];
  private readonly bearer: string;

  constructor(monitors: readonly DeviceCredentials[], gateways: readonly string[], bearer: string) {
    this.monitors = monitors;
    this.gateways = gateways;
    this.bearer = bearer;
    this.expectations = monitors.map((m) => ({ monitorId: m.id, key: "at", must: new Set(), may: new Set() }));
  }

  async run(signal: AbortSignal, everyMs: number): Promise<void> {
    await Promise.all(
      this.monitors.map(async (m, i) => {
        const exp = this.expectations[i] as Expectation;
        let last = 0;
        for (let n = 1; !signal.aborted; n++) {
          const at = Math.max(Date.now(), last + 1);
          last = at;
          const key = `faults-${m.id}-${n}`;
          exp.may.add(at);
          const a = await retrying(
            this.gateways.slice(n % this.gateways.length).concat(this.gateways.slice(0, n % this.gateways.length)),
            async (base) => {
              const x = await call(base, "POST", `/api/v2/monitors/${m.id}/readings`, {
                bearer: this.bearer,
                headers: { "idempotency-key": key },
                json: { timestamp: at, ph: 6 + (n % 7) / 10, reservoir_temp: 18 + (n % 5) },
              });
              this.statuses.add(x.status);
              return x;
            },
            (x) => x.status === 200,
            60_000,
          );
          if (a.status === 200) {
            this.ok++;
            exp.may.delete(at);
            exp.must.add(at);
          } else this.gaveUp++;
          await sleep(everyMs, signal);
        }
      }),
    );
  }
}
