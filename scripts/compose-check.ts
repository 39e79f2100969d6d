/**
 * The client half of `npm run compose:check` (scripts/compose-check.sh starts the compose stack):
 *
 *   node scripts/compose-check.ts <gateway URL> <NATS URL>
 *
 * against a running stack whose admin is TRELLIS_ADMIN_USERNAME / TRELLIS_ADMIN_PASSWORD:
 * 1. HTTP round trip: register a user, log in as them, `GET /api/v2/me` names them;
 * 2. the admin gives that user a monitor (`POST /api/v2/monitors`, its device password);
 * 3. the device flow of docs/telemetry.md: the monitor connects to NATS as itself (auth callout, answered
 *    by the auth container) and publishes a reading with JetStream, which acks it;
 * 4. the owner sees that reading's values in `GET /api/v2/monitors/:id/readings/latest` (telemetry
 *    consumed it from the stream and stored it in the database container).
 * One line per step on stderr with its time; exits non-zero with the reason on the first failure.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { jetstream } from "@nats-io/jetstream";
import { deviceSubjects, MEASUREMENTS } from "@trellis/contracts";
import { api, connectDevice, createMonitors, login } from "./devices/platform.ts";
import { readingGenerator } from "./devices/readings.ts";

const [base, natsUrl] = process.argv.slice(2);
const adminUser = process.env.TRELLIS_ADMIN_USERNAME;
const adminPassword = process.env.TRELLIS_ADMIN_PASSWORD;
if (!base || !natsUrl || !adminUser || !adminPassword) {
  process.stderr.write(
    "usage: TRELLIS_ADMIN_USERNAME=… TRELLIS_ADMIN_PASSWORD=… node scripts/compose-check.ts <gateway URL> <NATS URL>\n",
  );
  process.exit(2);
}

const say = (line: string) => process.stderr.write(`compose-check: ${line}\n`);
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await run();
  say(`${what} (${(performance.now() - t0).toFixed(0)} ms)`);
  return result;
}
function expectStatus(res: { status: number; body: unknown }, status: number, what: string): Record<string, unknown> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`);
  return res.body as Record<string, unknown>;
}

try {
  const username = `compose-${randomBytes(4).toString("hex")}`;
  const password = `Compose-${randomBytes(12).toString("base64url")}`;
  const userId = await step(`registered ${username}, logged in, /api/v2/me names them`, async () => {
    const created = expectStatus(
      await api(base, "POST", "/api/v2/auth/register", { json: { username, password } }),
      201,
      "register",
    );
    const token = await login(base, username, password);
    const me = expectStatus(await api(base, "GET", "/api/v2/me", { bearer: token }), 200, "GET /api/v2/me");
    if (me.username !== username || me.userId !== created.id) {
      throw new Error(`GET /api/v2/me answered ${JSON.stringify(me)}, not ${username} (${String(created.id)})`);
    }
    return created.id as string;
  });
  const userToken = await login(base, username, password);

  const [monitor] = await step("the admin created a monitor for them", async () =>
    createMonitors(base, await login(base, adminUser, adminPassword), userId, 1),
  );
  if (!monitor) throw new Error("no monitor was created");

  const reading = readingGenerator(monitor.id).next(Date.now());
  await step(`the monitor connected to ${natsUrl} as itself and JetStream acked its reading`, async () => {
    const nc = await connectDevice(natsUrl, monitor);
    try {
      const ack = await jetstream(nc).publish(deviceSubjects.readings(monitor.id), JSON.stringify(reading), {
        msgID: `compose-check-${monitor.id}`,
      });
      if (!(ack.seq > 0)) throw new Error(`no stream sequence in the ack: ${JSON.stringify(ack)}`);
    } finally {
      await nc.close();
    }
  });

  await step("the owner sees the reading's values in /readings/latest", async () => {
    const sent = Object.fromEntries(MEASUREMENTS.map((m) => [m, reading[m]]));
    const deadline = performance.now() + 30_000;
    let last: unknown;
    while (performance.now() < deadline) {
      const res = await api(base, "GET", `/api/v2/monitors/${monitor.id}/readings/latest`, { bearer: userToken });
      last = res.body;
      if (res.status === 200) {
        const values = (res.body as { values: Record<string, { value: number; at: number }> }).values;
        const seen = Object.entries(sent).every(
          ([m, v]) => values[m]?.value === v && values[m]?.at === reading.timestamp,
        );
        if (seen) return;
      } else if (res.status !== 404) {
        expectStatus(res, 200, "GET readings/latest");
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the reading was not visible within 30 s; last answer ${JSON.stringify(last)?.slice(0, 400)}`);
  });
  say("round trip passed");
} catch (err) {
  say(`FAILED: ${(err as Error).message}`);
  process.exit(1);
}
