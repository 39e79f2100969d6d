/**
 * `npm start`: the whole Trellis stack in the foreground. Dependencies come from the harness
 * (URLs from TRELLIS_*_URL → containers when a runtime is reachable → local binaries, data kept in
 * `.data/`), with NATS on 127.0.0.1:4222 (`NATS_PORT`) so that devices and `npm run simulate` find
 * it where NATS usually is; then the five services start as child processes. Ctrl-C / SIGTERM
 * stops the services gracefully, then the servers, and leaves no process behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { SERVICE_NAMES } from "@trellis/contracts";
import { portInUse, type Stack, serviceEnv, startStack } from "@trellis/stack";
import { ensureConsoleBuilt } from "../packages/console/build.ts";

const root = join(import.meta.dirname, "..");
const say = (line: string) => process.stderr.write(`trellis: ${line}\n`);

function portFrom(variable: string, fallback: number): number {
  const raw = process.env[variable];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65_535) {
    say(`${variable} must be a TCP port, 1-65535 (got ${JSON.stringify(raw)})`);
    process.exit(78);
  }
  return value;
}

/**
 * Refuses a port something else already listens on: the readiness probe (gateway) or a device
 * (NATS) would otherwise reach that other server, and ours would fail to bind behind it.
 */
async function ensureFree(variable: string, value: number, onHost: string, what: string): Promise<void> {
  let taken: boolean;
  try {
    taken = await portInUse(value, onHost);
  } catch (err) {
    say(
      `cannot listen on ${onHost}:${value} for ${what} (${(err as Error).message}); choose another port with ${variable}`,
    );
    process.exit(1);
  }
  if (taken) {
    const example = value < 55_000 ? value + 10_000 : value - 10_000;
    say(
      `${onHost}:${value} is already in use, so ${what} cannot listen there (another npm start?). ` +
        `Stop that process or choose another port, e.g. ${variable}=${example} npm start`,
    );
    process.exit(1);
  }
}

const port = portFrom("PORT", 8080);
const host = process.env.HOST ?? "127.0.0.1";
const natsPort = portFrom("NATS_PORT", 4222);
const natsGiven = Boolean(process.env.TRELLIS_NATS_URL);
if (natsGiven && process.env.NATS_PORT) say("NATS_PORT does not apply: NATS is the server at TRELLIS_NATS_URL");
// The harness serves NATS on 127.0.0.1 only (binary or container), so that is the address to check.
if (!natsGiven) await ensureFree("NATS_PORT", natsPort, "127.0.0.1", "NATS");
await ensureFree("PORT", port, host, "the gateway");

const children = new Map<string, ChildProcess>();
let stack: Stack | undefined;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (stopping) return new Promise(() => {});
  stopping = true;
  say("stopping services");
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
          child.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
  say("stopping servers");
  await stack?.stop();
  say("stopped");
  process.exit(code);
}

process.once("SIGINT", () => void stopAll(0));
process.once("SIGTERM", () => void stopAll(0));

// The web console (/console/): built by Vite when its sources changed since the last build.
try {
  await ensureConsoleBuilt({ log: say });
} catch (err) {
  say(`could not build the console (the API works without it): ${(err as Error).message}`);
}

try {
  stack = await startStack({ dataDir: join(root, ".data"), persistent: true, ports: { nats: natsPort }, log: say });
} catch (err) {
  say(`could not start the servers: ${(err as Error).message}`);
  process.exit(1);
}

for (const service of SERVICE_NAMES) {
  const child = spawn(process.execPath, [join(root, "services", service, "src", "main.ts")], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    detached: true, // signals come from this launcher only, in order
    env: {
      ...process.env,
      ...serviceEnv(stack),
      PORT: String(port),
      HOST: host,
    },
  });
  children.set(service, child);
  child.once("exit", (code, signal) => {
    if (stopping) return;
    say(`${service} exited (${signal ?? code}); stopping everything`);
    void stopAll(1);
  });
}

const deadline = Date.now() + 60_000;
while (!stopping && Date.now() < deadline) {
  try {
    const res = await fetch(`http://${host}:${port}/readyz`);
    if (res.ok) {
      const admin = process.env.TRELLIS_ADMIN_USERNAME;
      say("ready (readyz: five services healthy). Ctrl-C stops everything.");
      say(`  gateway           http://${host}:${port}`);
      say(`  console           http://${host}:${port}/console/`);
      say(`  NATS for devices  ${stack.nats.url}`);
      if (admin) say(`  admin user        ${admin} (TRELLIS_ADMIN_USERNAME)`);
      break;
    }
  } catch {
    // not listening yet
  }
  await new Promise((r) => setTimeout(r, 250));
}
if (!stopping && Date.now() >= deadline) say("services did not become ready within 60 s; see the logs above");
