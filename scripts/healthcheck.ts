/**
 * Container health check for a backend service: `node scripts/healthcheck.ts <service>`.
 * Exits 0 when an instance of the service answers its NATS health request with status "ok".
 * (It asks the queue group, so it proves the service answers, not this very container.)
 */

import { connect } from "@nats-io/transport-node";
import { catalogs, ServiceName } from "@trellis/contracts";
import { request } from "@trellis/runtime";

const service = ServiceName.safeParse(process.argv[2]);
if (!service.success) {
  process.stderr.write(`usage: healthcheck.ts <${ServiceName.options.join("|")}>\n`);
  process.exit(2);
}
try {
  const nc = await connect({
    servers: (process.env.NATS_URL ?? "nats://127.0.0.1:4222").split(","),
    timeout: 2_000,
    ...(process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD ?? "" } : {}),
  });
  const health = await request(nc, catalogs[service.data].health, {}, { timeoutMs: 2_000 });
  await nc.close();
  process.exit(health.status === "ok" ? 0 : 1);
} catch (err) {
  process.stderr.write(`${service.data}: ${(err as Error).message}\n`);
  process.exit(1);
}
