/**
 * Command round trip through the platform, for `npm run bench:telemetry` (alone:
 * `BENCH_ONLY=commands npm run bench:telemetry`): `POST /api/v2/monitors/{id}/commands?wait=true`
 * → gateway → telemetry (stored, delivered as a NATS request) → a simulated device connected as
 * itself (auth callout), answering with the simulator's own code → the command's answer recorded →
 * 200 with the finished command. Goal p99 < 50 ms. Baseline in the same run: a raw NATS
 * request/reply from a service connection to the same device (the floor of the device hop).
 *
 * `BENCH_COMMANDS` (default 500) commands one at a time, then the same spread over
 * `BENCH_COMMAND_CLIENTS` (default 10) clients at once; every answer must be `succeeded`.
 */
import { performance } from "node:perf_hooks";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type DeviceCommandAnswer, deviceSubjects } from "@trellis/contracts";
import { freePort } from "@trellis/stack";
import { answerCommand, type DeviceSettings, serveCommands } from "../scripts/devices/commands.ts";
import { connectDevice, createMonitors, createOwner, login } from "../scripts/devices/platform.ts";
import { Reservoir } from "../scripts/devices/publisher.ts";
import { fmt, startBench } from "./support.ts";

const int = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};

const log = (line: string) => process.stderr.write(`bench(commands): ${line}\n`);
const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);

export async function benchCommands(): Promise<void> {
  const COMMANDS = int("BENCH_COMMANDS", 500);
  const CLIENTS = int("BENCH_COMMAND_CLIENTS", 10);
  const WARMUP = Math.min(50, COMMANDS);
  const admin = { username: "bench-admin", password: `Bench-Admin-${Date.now().toString(36)}-x9` };

  const bench = await startBench();
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const natsAuth = bench.stack.nats.natsAuth;
    if (!natsAuth) throw new Error("the NATS server has no service credentials (auth callout is required)");
    await bench.start("auth", { TRELLIS_ADMIN_USERNAME: admin.username, TRELLIS_ADMIN_PASSWORD: admin.password });
    await bench.start("telemetry");
    const port = await freePort();
    await bench.start("gateway", { PORT: String(port) });
    const gateway = `http://127.0.0.1:${port}`;

    const token = await login(gateway, admin.username, admin.password);
    const owner = await createOwner(gateway, token);
    const [device] = await createMonitors(gateway, token, owner, 1);
    if (!device) throw new Error("no monitor created");
    const nc: NatsConnection = await connectDevice(bench.stack.nats.url, device);
    closers.push(() => nc.close());
    const settings: DeviceSettings = {};
    let answered = 0;
    serveCommands(nc, device.id, (command): DeviceCommandAnswer => {
      answered++;
      return answerCommand(settings, command, () => 6.5);
    });
    await nc.flush();

    const url = `${gateway}/api/v2/monitors/${device.id}/commands?wait=true`;
    const body = JSON.stringify({ name: "calibrate_ph", params: { reference: 7 }, timeout_ms: 5_000 });
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const failures = new Map<string, number>();
    const roundTrip = async (lat: Reservoir | undefined) => {
      const t = performance.now();
      const res = await fetch(url, { method: "POST", headers, body });
      const json = (await res.json()) as { state?: string; error?: unknown };
      const took = performance.now() - t;
      if (res.status !== 200 || json.state !== "succeeded") {
        const why = `${res.status} ${json.state ?? JSON.stringify(json.error)}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
      } else lat?.add(took);
    };

    log(`warm-up: ${WARMUP} commands`);
    for (let i = 0; i < WARMUP; i++) await roundTrip(undefined);
    failures.clear();

    log(`${fmt(COMMANDS)} commands, one at a time`);
    const one = new Reservoir();
    let t0 = performance.now();
    for (let i = 0; i < COMMANDS; i++) await roundTrip(one);
    const oneSeconds = (performance.now() - t0) / 1000;

    log(`${fmt(COMMANDS)} commands over ${CLIENTS} clients`);
    const many = new Reservoir();
    let next = 0;
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next++ < COMMANDS) await roundTrip(many);
      }),
    );
    const manySeconds = (performance.now() - t0) / 1000;

    // Baseline: the device hop alone, a raw request/reply from a service connection.
    const svc = await connect({ servers: bench.stack.nats.url, user: natsAuth.user, pass: natsAuth.password });
    closers.push(() => svc.close());
    const raw = new Reservoir();
    const payload = JSON.stringify({ id: "bench", name: "calibrate_ph", params: { reference: 7 } });
    for (let i = 0; i < WARMUP; i++) await svc.request(deviceSubjects.commands(device.id), payload, { timeout: 5_000 });
    for (let i = 0; i < COMMANDS; i++) {
      const t = performance.now();
      await svc.request(deviceSubjects.commands(device.id), payload, { timeout: 5_000 });
      raw.add(performance.now() - t);
    }

    const a = one.summary();
    const b = many.summary();
    const r = raw.summary();
    const failed = [...failures.values()].reduce((x, y) => x + y, 0);
    const rows: [string, string, string][] = [
      [
        "command round trip, 1 client",
        `p99 ${ms(a.p99)}`,
        `p50 ${ms(a.p50)}, max ${ms(a.max)}; ${fmt(one.count / oneSeconds)} commands/s (POST ?wait=true → device → 200 succeeded)`,
      ],
      ["  p99 goal < 50 ms", a.p99 < 50 && failed === 0 ? "met" : "not met", `${failed} failed`],
      [
        `command round trip, ${CLIENTS} clients`,
        `p99 ${ms(b.p99)}`,
        `p50 ${ms(b.p50)}, max ${ms(b.max)}; ${fmt(many.count / manySeconds)} commands/s`,
      ],
      [
        "raw NATS request/reply to the device",
        `p99 ${ms(r.p99)}`,
        `p50 ${ms(r.p50)}, max ${ms(r.max)} (baseline: the device hop alone)`,
      ],
      ["  ratio p50 (platform / raw)", (a.p50 / r.p50).toFixed(1), "what storing, delivering and recording cost"],
    ];
    for (const [why, n] of failures) rows.push([`  failure ${why}`, String(n), ""]);
    for (const [x, y, z] of rows) process.stdout.write(`${x.padEnd(38)} ${y.padStart(14)}   ${z}\n`);
    log(`the device answered ${fmt(answered)} commands`);
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    await bench.stop();
  }
}
