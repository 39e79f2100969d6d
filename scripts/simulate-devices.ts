/**
 * Device simulator: N monitors, each connected to NATS as itself (its id and password, checked by
 * the auth service through auth callout), publishing realistic readings to its own subject.
 *
 *   npm run simulate -- --gateway http://127.0.0.1:8080 --nats nats://127.0.0.1:4222 \
 *     --admin admin:PASSWORD --monitors 10 --rate 50 --duration 30 [--owner <userId>] \
 *     [--credentials file.json] [--save-credentials file.json] [--in-flight 256]
 *
 * `--nats` defaults to `$NATS_URL`, else nats://127.0.0.1:4222, where `npm start` serves NATS; a
 * comma-separated list names the nodes of a cluster (`npm run start:cluster`:
 * `--nats nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224`). Each device connects
 * to one and fails over to another; a publish that fails meanwhile (timeout, no stream leader) is
 * retried with the same `Nats-Msg-Id` for up to 60 s, so it is stored exactly once.
 *
 * Without `--credentials` it logs in as the admin (`POST /api/v2/auth/token`), creates an owner
 * (`POST /api/v2/users`) unless `--owner` names one, and creates the monitors
 * (`POST /api/v2/monitors`). With `--credentials file.json` (`[{ "id", "password" }]`) it uses
 * those monitors and creates nothing (`--admin` is then not needed). `--save-credentials` writes
 * the created monitors to a file (mode 0600) for a later `--credentials` run.
 *
 * `--rate` is readings per second over all monitors together (round-robin); every reading has all
 * eight measurements and `timestamp` = now, and a unique `Nats-Msg-Id`. At most `--in-flight`
 * publishes wait for their JetStream ack at once. A summary goes to stdout at the end or on
 * Ctrl-C; the exit code is 0 when every reading sent was acknowledged, 1 otherwise (2: bad usage).
 *
 * Every simulated monitor answers commands (`POST /api/v2/monitors/{id}/commands`; see
 * `devices/commands.ts`): `set_interval {interval_ms}` takes it out of the shared round-robin and
 * makes it publish every `interval_ms` on its own, `calibrate_ph {reference?}` answers the offset
 * against the pH it measures, any other name is answered with an error. Each command is logged.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects } from "@trellis/contracts";
import { withJsRetry } from "@trellis/runtime";
import { answerCommand, type DeviceSettings, serveCommands } from "./devices/commands.ts";
import {
  closeAll,
  connectDevices,
  createMonitors,
  createOwner,
  type DeviceCredentials,
  deviceTargets,
  login,
  parseCredentials,
} from "./devices/platform.ts";
import { firstFailures, type PublishStats, publishPaced } from "./devices/publisher.ts";
import { readingGenerator } from "./devices/readings.ts";

const USAGE = `Usage: npm run simulate -- [options]

  --gateway URL            gateway base URL (default http://127.0.0.1:8080)
  --nats URL[,URL...]      NATS server URL, or the nodes of a cluster comma-separated
                           (default $NATS_URL, else nats://127.0.0.1:4222, where npm start
                           serves it)
  --admin USER:PASSWORD    admin credentials, to create an owner and the monitors
  --monitors N             monitors to create (default 10)
  --rate R                 readings per second over all monitors (default 50)
  --duration D             seconds to publish (default 30)
  --owner USER_ID          owner of the created monitors (default: a new user)
  --credentials FILE       use these monitors ([{"id","password"}]) instead of creating any
  --save-credentials FILE  write the created monitors' credentials here (mode 0600)
  --in-flight N            most publishes awaiting their ack at once (default 256)
  -h, --help               this help

Exit code: 0 when every reading sent was acknowledged by JetStream, 1 otherwise, 2 on bad usage.
`;

/** Where `npm start` serves NATS unless NATS_PORT moves it. */
const DEFAULT_NATS = "nats://127.0.0.1:4222";

class UsageError extends Error {}

function number(value: string | undefined, name: string, min: number, max: number, integer: boolean): number {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"} in [${min}, ${max}]`);
  }
  return n;
}

function options() {
  const { values } = parseArgs({
    options: {
      gateway: { type: "string", default: "http://127.0.0.1:8080" },
      nats: { type: "string", default: process.env.NATS_URL || DEFAULT_NATS },
      admin: { type: "string" },
      monitors: { type: "string", default: "10" },
      rate: { type: "string", default: "50" },
      duration: { type: "string", default: "30" },
      owner: { type: "string" },
      credentials: { type: "string" },
      "save-credentials": { type: "string" },
      "in-flight": { type: "string", default: "256" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;
  const admin = values.admin === undefined ? undefined : values.admin.split(/:(.*)/s);
  if (admin && (!admin[0] || !admin[1])) throw new UsageError("--admin must be USER:PASSWORD");
  if (!values.credentials && !admin) throw new UsageError("give --admin (to create monitors) or --credentials");
  if (values.credentials && values.owner) throw new UsageError("--owner applies only when creating monitors");
  return {
    gateway: values.gateway,
    nats: values.nats,
    admin: admin ? { username: admin[0] as string, password: admin[1] as string } : undefined,
    monitors: number(values.monitors, "monitors", 1, 10_000, true),
    rate: number(values.rate, "rate", 0.001, 1_000_000, false),
    durationS: number(values.duration, "duration", 0.001, 7 * 86_400, false),
    owner: values.owner,
    credentials: values.credentials,
    saveCredentials: values["save-credentials"],
    inFlight: number(values["in-flight"], "in-flight", 1, 65_536, true),
  };
}

const log = (line: string) => process.stderr.write(`simulate: ${line}\n`);

function summary(stats: PublishStats, monitors: number, targetRate: number): string {
  const s = stats.sendingMs / 1000;
  const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);
  const lines = [
    ["monitors", String(monitors)],
    [
      "elapsed",
      `${s.toFixed(1)} s sending${stats.interrupted ? " (interrupted)" : ""}, last ack after ${(stats.elapsedMs / 1000).toFixed(1)} s`,
    ],
    ["sent", String(stats.sent)],
    ["acknowledged", `${stats.acked}${stats.duplicates ? ` (${stats.duplicates} reported as duplicates)` : ""}`],
    ["failed", String(stats.failed)],
    ["rate", `${(s > 0 ? stats.sent / s : 0).toFixed(1)} readings/s (target ${targetRate})`],
    ["ack latency", `p50 ${ms(stats.latency.p50)}, p99 ${ms(stats.latency.p99)}, max ${ms(stats.latency.max)}`],
    ["message size", `${Math.round(stats.avgBytes)} bytes on average`],
  ].map(([k, v]) => `${(k as string).padEnd(14)}${v}`);
  for (const f of firstFailures(stats)) lines.push(`  ${f}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Every device answers its commands; one told `set_interval` publishes on its own timer from then
 * on (its turns in the shared round-robin are skipped). Counts what those timers sent and had acked.
 */
function answerCommands(devices: readonly DeviceCredentials[], conns: readonly NatsConnection[]) {
  const settings: DeviceSettings[] = devices.map(() => ({}));
  const timers: (NodeJS.Timeout | undefined)[] = [];
  const pending = new Set<Promise<unknown>>();
  const own = { sent: 0, acked: 0 };
  const subs = devices.map((device, i) => {
    const nc = conns[i] as NatsConnection;
    const js = jetstream(nc);
    const probe = readingGenerator(device.id);
    let n = 0;
    const publishOwn = () => {
      own.sent++;
      const payload = JSON.stringify(probe.next(Date.now()));
      const msgID = `sim-own-${device.id}-${Date.now()}-${++n}`;
      const p = withJsRetry(() => js.publish(deviceSubjects.readings(device.id), payload, { msgID }), {
        deadlineMs: 60_000,
      })
        .then(() => void own.acked++)
        .catch(() => {})
        .finally(() => pending.delete(p));
      pending.add(p);
    };
    return serveCommands(nc, device.id, (command) => {
      const s = settings[i] as DeviceSettings;
      const answer = answerCommand(s, command, () => probe.next(Date.now()).ph);
      log(`monitor ${device.id}: ${command.name} ${JSON.stringify(command.params)} → ${JSON.stringify(answer)}`);
      if (command.name === "set_interval" && answer.ok) {
        clearInterval(timers[i]);
        timers[i] = setInterval(publishOwn, s.intervalMs);
      }
      return answer;
    });
  });
  return {
    settings,
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const sub of subs) sub.unsubscribe();
      await Promise.allSettled([...pending]);
      return own;
    },
  };
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof options>;
  try {
    opts = options();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(USAGE);
    return 0;
  }

  const stop = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      log("stopping: waiting for the acks in flight (Ctrl-C again to quit at once)");
      stop.abort();
    } else process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let devices: DeviceCredentials[];
  if (opts.credentials) {
    devices = parseCredentials(readFileSync(opts.credentials, "utf8"), opts.credentials);
    log(`${devices.length} monitors from ${opts.credentials}`);
  } else {
    const admin = opts.admin as { username: string; password: string };
    const token = await login(opts.gateway, admin.username, admin.password);
    const owner = opts.owner ?? (await createOwner(opts.gateway, token));
    if (!opts.owner) log(`created owner ${owner}`);
    devices = await createMonitors(opts.gateway, token, owner, opts.monitors, {
      onProgress: (n) => {
        if (n % 100 === 0) log(`${n}/${opts.monitors} monitors created`);
      },
    });
    log(`created ${devices.length} monitors for owner ${owner}`);
    if (opts.saveCredentials) {
      writeFileSync(opts.saveCredentials, `${JSON.stringify(devices, null, 2)}\n`, { mode: 0o600 });
      log(`credentials written to ${opts.saveCredentials}`);
    }
  }

  const conns = await connectDevices(opts.nats, devices, {
    onProgress: (n) => {
      if (n % 100 === 0) log(`${n}/${devices.length} monitors connected`);
    },
  });
  try {
    if (stop.signal.aborted) {
      log("interrupted before publishing");
      return 1;
    }
    log(`${conns.length} monitors connected to ${opts.nats}; ${opts.rate} readings/s for ${opts.durationS} s`);
    const commanded = answerCommands(devices, conns);
    const targets = deviceTargets(devices, conns).map((t, i) => ({
      ...t,
      due: () => commanded.settings[i]?.intervalMs === undefined,
    }));
    const stats = await publishPaced(targets, {
      rate: opts.rate,
      durationMs: opts.durationS * 1000,
      inFlight: opts.inFlight,
      signal: stop.signal,
    });
    const own = await commanded.stop();
    process.stdout.write(summary(stats, devices.length, opts.rate));
    if (own.sent > 0) {
      process.stdout.write(
        `${"own interval".padEnd(14)}${own.sent} sent, ${own.acked} acknowledged (monitors told set_interval)\n`,
      );
    }
    return stats.failed === 0 && stats.acked === stats.sent && own.acked === own.sent ? 0 : 1;
  } finally {
    await closeAll(conns);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`simulate: ${(err as Error).message ?? err}\n`);
    process.exitCode = 1;
  },
);
