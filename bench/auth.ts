/**
 * `npm run bench:auth` — two measurements, each against a baseline taken in the same run:
 * 1. authenticated `GET /api/v2/me` through the gateway (JWT verified locally) vs bare Express
 *    "hello" (goal: ratio >= 0.35);
 * 2. logins/s through the gateway (`POST /api/v2/auth/token`) vs raw argon2id verify at the same
 *    parameters, in a process configured like the auth service (bench/argon2-verify.ts)
 *    (goal: ratio >= 0.8; parameters never lowered).
 */

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { freePort } from "@trellis/stack";
import {
  CONNECTIONS,
  type CpuPhase,
  DURATION_S,
  fmt,
  load,
  measureCpu,
  printCpuTable,
  startBench,
  startHello,
} from "./support.ts";

const user = { username: "bench-user", password: "Bench-Password-8237" };

const bench = await startBench();
try {
  const names = new Map<number, string>();
  const cpuPhases: CpuPhase[] = [];
  names.set((await bench.start("auth")).pid, "auth");
  const port = await freePort();
  names.set((await bench.start("gateway", { PORT: String(port) })).pid, "gateway");
  const gateway = `http://127.0.0.1:${port}`;

  const reg = await fetch(`${gateway}/api/v2/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(user),
  });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${await reg.text()}`);
  const tokenRes = await fetch(`${gateway}/api/v2/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "password", ...user }),
  });
  const { access_token } = (await tokenRes.json()) as { access_token: string };

  process.stderr.write(`bench: ${DURATION_S} s per run, ${CONNECTIONS} connections, Node ${process.version}\n`);
  const hello = await startHello();
  await load({ url: hello.url, duration: 2 }); // warm-up
  const base = await load({ url: hello.url });
  hello.stop();

  await load({ url: `${gateway}/api/v2/me`, headers: { authorization: `Bearer ${access_token}` }, duration: 2 });
  const me = await measureCpu(cpuPhases, "GET /api/v2/me", names, () =>
    load({ url: `${gateway}/api/v2/me`, headers: { authorization: `Bearer ${access_token}` } }),
  );
  if (me.non2xx || me.errors) throw new Error(`GET /api/v2/me had ${me.non2xx} non-2xx and ${me.errors} errors`);

  // Logins: the gateway, NATS, rate-limit check in Redis, user lookup, argon2id verify, session
  // insert and login-log insert, against argon2id verify alone with the same parameters.
  const concurrency = 4; // logins in flight, and verifies in flight in the baseline
  const baseline = spawnSync(
    process.execPath,
    [join(import.meta.dirname, "argon2-verify.ts"), String(DURATION_S), String(concurrency)],
    { encoding: "utf8" },
  );
  if (baseline.status !== 0) throw new Error(`argon2 baseline failed: ${baseline.stderr}`);
  const rawVerifyPerSec = Number(baseline.stdout.trim());

  const logins = await measureCpu(cpuPhases, "logins", names, () =>
    load({
      url: `${gateway}/api/v2/auth/token`,
      method: "POST",
      connections: concurrency,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "password", ...user }),
    }),
  );
  if (logins.non2xx || logins.errors)
    throw new Error(`logins had ${logins.non2xx} non-2xx and ${logins.errors} errors`);

  const rows = [
    ["bare Express hello", `${fmt(base.rps)} req/s`, `p50 ${base.p50} ms, p99 ${base.p99} ms`],
    ["GET /api/v2/me (JWT)", `${fmt(me.rps)} req/s`, `p50 ${me.p50} ms, p99 ${me.p99} ms`],
    ["  ratio (goal >= 0.35)", (me.rps / base.rps).toFixed(2), ""],
    ["raw argon2id verify", `${rawVerifyPerSec.toFixed(1)} /s`, `m=19456 KiB, t=2, p=1, ${concurrency} at a time`],
    ["logins through gateway", `${logins.rps.toFixed(1)} /s`, `p50 ${logins.p50} ms, p99 ${logins.p99} ms`],
    ["  ratio (goal >= 0.8)", (logins.rps / rawVerifyPerSec).toFixed(2), ""],
  ];
  for (const [a, b, c] of rows)
    process.stdout.write(`${(a as string).padEnd(26)} ${(b as string).padStart(14)}   ${c}\n`);
  printCpuTable(cpuPhases);
} finally {
  await bench.stop();
}
