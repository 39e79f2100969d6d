/**
 * `npm run start:cluster`: Trellis scaled out, in the foreground. Three nats-server nodes in one
 * cluster (`trellis-1..3`, client ports NATS_PORT..NATS_PORT+2, default 4222-4224; route ports
 * NATS_CLUSTER_PORT..+2, default NATS_PORT+2000, i.e. 6222-6224; each with its own store under
 * `.data/cluster/nats-<n>`), JetStream on all three and every stream at 3 replicas
 * (`JETSTREAM_REPLICAS=3`), FerretDB and Redis as for `npm start` (data in `.data/cluster/`), two
 * instances of every service, the two gateways on PORT and PORT+1 (default 8080, 8081), each
 * instance's Prometheus endpoint on a port of its own (METRICS_BASE_PORT, default 9460: the first
 * instances on 9460-9464 as with `npm start`, the second ones on 9465-9469). Services
 * and devices get the three NATS URLs. Supervised like `npm start` (packages/stack/src/supervisor.ts);
 * prints `ready` with every URL once `/readyz` answers 200 on both gateways; Ctrl-C / SIGTERM stops
 * everything. Scripts read the `ready {json}` line on stdout and `.data/cluster/processes.json`.
 */
import { join, resolve } from "node:path";
import { SERVICE_NAMES } from "@trellis/contracts";
import {
  type Dependency,
  ensureFree,
  Launcher,
  portFrom,
  say,
  startDependency,
  startNatsClusterBinaries,
} from "@trellis/stack";
import { ensureConsoleBuilt } from "../packages/console/build.ts";

const root = join(import.meta.dirname, "..");
const dataDir = join(resolve(process.env.TRELLIS_DATA_DIR || join(root, ".data")), "cluster");
const command = "npm run start:cluster";

const NODES = 3;
const INSTANCES = 2;
const port = portFrom("PORT", 8080);
const host = process.env.HOST ?? "127.0.0.1";
const natsPort = portFrom("NATS_PORT", 4222);
const routePort = portFrom("NATS_CLUSTER_PORT", natsPort + 2000);
for (const v of ["TRELLIS_NATS_URL"]) if (process.env[v]) say(`${v} does not apply: the cluster is started here`);
if (natsPort + NODES - 1 > 65_535 || routePort + NODES - 1 > 65_535 || port + INSTANCES - 1 > 65_535) {
  say("PORT, NATS_PORT and NATS_CLUSTER_PORT must leave room for the ports after them (+1, +2)");
  process.exit(78);
}
const nodes = Array.from({ length: NODES }, (_, i) => ({ client: natsPort + i, route: routePort + i }));
for (const [i, n] of nodes.entries()) {
  await ensureFree(i === 0 ? "NATS_PORT" : `NATS_PORT (+${i})`, n.client, "127.0.0.1", `NATS node ${i + 1}`, command);
  await ensureFree(
    i === 0 ? "NATS_CLUSTER_PORT" : `NATS_CLUSTER_PORT (+${i})`,
    n.route,
    "127.0.0.1",
    `NATS node ${i + 1}'s routes`,
    command,
  );
}
const gatewayPorts = Array.from({ length: INSTANCES }, (_, i) => port + i);
for (const [i, p] of gatewayPorts.entries())
  await ensureFree(i === 0 ? "PORT" : `PORT (+${i})`, p, host, `gateway ${i + 1}`, command);

// Each instance is a scrape target of its own: METRICS_BASE_PORT + (instance - 1) × 5 + the
// service's index, so the first instances use npm start's ports and the second ones the next five.
const metricsBase = portFrom("METRICS_BASE_PORT", 9460);
const metricsPortOf = (service: (typeof SERVICE_NAMES)[number], instance: number) =>
  metricsBase + (instance - 1) * SERVICE_NAMES.length + SERVICE_NAMES.indexOf(service);
if (metricsBase + INSTANCES * SERVICE_NAMES.length - 1 > 65_535) {
  say(`METRICS_BASE_PORT must leave room for the ${INSTANCES * SERVICE_NAMES.length} metrics ports from it`);
  process.exit(78);
}
const metricsPorts = Array.from({ length: INSTANCES }, (_, i) =>
  SERVICE_NAMES.map((service) => ({ name: `${service}-${i + 1}`, port: metricsPortOf(service, i + 1) })),
).flat();
for (const m of metricsPorts)
  await ensureFree("METRICS_BASE_PORT", m.port, "127.0.0.1", `${m.name}'s metrics`, command);

const launcher = new Launcher({ root, dataDir, mode: "cluster" });

// The web console (/console/ on both gateways): built by Vite when its sources changed.
try {
  await ensureConsoleBuilt({ log: say });
} catch (err) {
  say(`could not build the console (the API works without it): ${(err as Error).message}`);
}

// The TRELLIS_STACK / TRELLIS_*_URL rules apply to FerretDB and Redis; the NATS nodes are local binaries.
const opts = { dataDir, persistent: true, log: say };
// A Ctrl-C while they start stops each once it is up.
let postgres: Dependency | undefined;
const started = await Promise.allSettled([
  launcher.startServers(startNatsClusterBinaries(dataDir, nodes)),
  // FerretDB on postgresql (TRELLIS_DB_BACKEND) brings its PostgreSQL server, supervised too.
  launcher.startServers(
    startDependency("mongo", {
      ...opts,
      onPostgres: (p) => {
        postgres = p;
      },
    }).then((d) => [d, ...(postgres ? [postgres] : [])]),
  ),
  launcher.startServers(startDependency("redis", opts).then((d) => [d])),
]);
const failed = started.find((r) => r.status === "rejected");
if (failed) {
  await Promise.allSettled(started.flatMap((r) => (r.status === "fulfilled" ? r.value.map((d) => d.stop()) : [])));
  say(`could not start the servers: ${((failed as PromiseRejectedResult).reason as Error).message}`);
  process.exit(1);
}
const [nats, [mongo, pg], [redis]] = started.map((r) => (r as PromiseFulfilledResult<Dependency[]>).value) as [
  Dependency[],
  [Dependency, Dependency?],
  [Dependency],
];
say(`stack: nats cluster of ${NODES} nodes at ${nats.map((n) => n.url).join(", ")}`);
for (const [i, node] of nats.entries()) await launcher.addServer(`nats-${i + 1}`, node);
await launcher.addServer("mongo", mongo);
if (pg) await launcher.addServer("postgres", pg);
await launcher.addServer("redis", redis);

const auth = nats[0]?.natsAuth;
const natsUrls = nats.map((n) => n.url);
const env = {
  NATS_URL: natsUrls.join(","),
  MONGO_URL: mongo.url,
  REDIS_URL: redis.url,
  JETSTREAM_REPLICAS: String(NODES),
  HOST: host,
  ...(auth ? { NATS_USER: auth.user, NATS_PASSWORD: auth.password, NATS_CALLOUT_ISSUER_SEED: auth.issuerSeed } : {}),
};
for (let i = 1; i <= INSTANCES && !launcher.isStopping; i++) {
  for (const service of SERVICE_NAMES) {
    if (launcher.isStopping) break;
    await launcher.addService(`${service}-${i}`, service, {
      ...env,
      PORT: String(port + i - 1),
      METRICS_PORT: String(metricsPortOf(service, i)),
      METRICS_HOST: "127.0.0.1",
    });
  }
}

const admin = process.env.TRELLIS_ADMIN_USERNAME;
await launcher.waitReady(
  gatewayPorts.map((p) => `http://${host}:${p}`),
  natsUrls,
  120_000,
  [
    ...(admin ? [`admin user        ${admin} (TRELLIS_ADMIN_USERNAME)`] : []),
    ...metricsPorts.map((m) => `metrics ${m.name.padEnd(11)} http://127.0.0.1:${m.port}/metrics`),
  ],
);
