/**
 * `npm start`: the whole Trellis stack in the foreground. Dependencies come from the harness
 * (URLs from TRELLIS_*_URL → containers when a runtime is reachable → local binaries, data kept in
 * `.data/`, or TRELLIS_DATA_DIR), with NATS on 127.0.0.1:4222 (`NATS_PORT`) so that devices and
 * `npm run simulate` find it where NATS usually is; then the five services start as child processes.
 *
 * FerretDB stores its data in SQLite files or, with TRELLIS_DB_BACKEND=postgresql, in a PostgreSQL
 * server the stack runs too (`.data/postgresql`); see docs/decisions/database-backend.md.
 *
 * Supervised (packages/stack/src/supervisor.ts): a service or a local server (NATS, FerretDB,
 * PostgreSQL, Redis) that exits unexpectedly is restarted with capped exponential backoff and jitter, on the
 * same port and data; 5 restarts of one process within 60 s stop everything. Ctrl-C / SIGTERM
 * stops the services gracefully, then the servers, and leaves no process behind. Scripts read the
 * `ready {json}` line on stdout and `<data dir>/processes.json` (process name → pid); see launcher.ts.
 */
import { join, resolve } from "node:path";
import { SERVICE_NAMES } from "@trellis/contracts";
import { dbBackend, ensureFree, Launcher, portFrom, type Stack, say, serviceEnv, startStack } from "@trellis/stack";
import { ensureConsoleBuilt } from "../packages/console/build.ts";

const root = join(import.meta.dirname, "..");
const dataDir = resolve(process.env.TRELLIS_DATA_DIR || join(root, ".data"));

const port = portFrom("PORT", 8080);
const host = process.env.HOST ?? "127.0.0.1";
const natsPort = portFrom("NATS_PORT", 4222);
// FerretDB's storage when it runs as a local binary (TRELLIS_DB_BACKEND): checked before anything starts.
try {
  dbBackend();
} catch (err) {
  say((err as Error).message);
  process.exit(78);
}
const natsGiven = Boolean(process.env.TRELLIS_NATS_URL);
if (natsGiven && process.env.NATS_PORT) say("NATS_PORT does not apply: NATS is the server at TRELLIS_NATS_URL");
// The harness serves NATS on 127.0.0.1 only (binary or container), so that is the address to check.
if (!natsGiven) await ensureFree("NATS_PORT", natsPort, "127.0.0.1", "NATS");
await ensureFree("PORT", port, host, "the gateway");
// Each service's Prometheus endpoint on its own port: METRICS_BASE_PORT (default 9460) + its index.
const metricsBase = portFrom("METRICS_BASE_PORT", 9460);
const metricsPorts = new Map(SERVICE_NAMES.map((s, i) => [s, metricsBase + i]));
for (const [service, p] of metricsPorts) await ensureFree("METRICS_BASE_PORT", p, "127.0.0.1", `${service}'s metrics`);

const launcher = new Launcher({ root, dataDir, mode: "single" });

// The web console (/console/): built by Vite when its sources changed since the last build.
try {
  await ensureConsoleBuilt({ log: say });
} catch (err) {
  say(`could not build the console (the API works without it): ${(err as Error).message}`);
}

let stack: Stack;
try {
  const starting = startStack({ dataDir, persistent: true, ports: { nats: natsPort }, log: say });
  // A Ctrl-C while they start stops them once they are up.
  await launcher.startServers(starting.then((s) => [s.nats, s.mongo, s.redis, ...(s.postgres ? [s.postgres] : [])]));
  stack = await starting;
} catch (err) {
  say(`could not start the servers: ${(err as Error).message}`);
  process.exit(1);
}
for (const dep of [stack.nats, stack.mongo, stack.redis, ...(stack.postgres ? [stack.postgres] : [])]) {
  await launcher.addServer(dep.name, dep);
}

const env = { ...serviceEnv(stack), JETSTREAM_REPLICAS: "1", PORT: String(port), HOST: host };
for (const service of SERVICE_NAMES) {
  if (launcher.isStopping) break;
  await launcher.addService(service, service, {
    ...env,
    METRICS_PORT: String(metricsPorts.get(service)),
    METRICS_HOST: "127.0.0.1",
  });
}

const admin = process.env.TRELLIS_ADMIN_USERNAME;
await launcher.waitReady([`http://${host}:${port}`], [stack.nats.url], 60_000, [
  `console           http://${host}:${port}/console/`,
  ...(admin ? [`admin user        ${admin} (TRELLIS_ADMIN_USERNAME)`] : []),
  ...[...metricsPorts].map(([service, p]) => `metrics ${service.padEnd(9)} http://127.0.0.1:${p}/metrics`),
]);
