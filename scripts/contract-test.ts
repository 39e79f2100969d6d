/**
 * `npm run test:contract` (after scripts/contract-test.sh installed schemathesis): starts a whole
 * stack of its own (servers on free ports with a fresh data directory, the five services, an admin
 * from TRELLIS_ADMIN_USERNAME/PASSWORD), registers a user, and runs schemathesis against
 * `/openapi.json` once with the user's token and once with the admin's: all checks, all phases
 * (stateful links included), a fixed seed. The accepted exceptions are the named, commented
 * entries of tools/schemathesis/schemathesis.toml; any other failure fails the run. Everything it
 * started is stopped at the end, whatever happened.
 *
 * Options (environment): CONTRACT_MAX_EXAMPLES (per operation and phase, default 10),
 * CONTRACT_SEED (default 20261207), CONTRACT_TOKENS (`user,admin`), CONTRACT_KEEP=1 (keep the run
 * directory with the services' logs and schemathesis' reports), CONTRACT_EXTRA (more arguments
 * for `st run`, e.g. `--include-operation-id getUser`), CONTRACT_CONFIG (another schemathesis.toml,
 * e.g. one without the exceptions, to see which still fail).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICE_NAMES } from "@trellis/contracts";
import { freePort, type Stack, serviceEnv, startStack } from "@trellis/stack";
import { type ServiceProcess, spawnService } from "@trellis/stack/testing";

const root = join(import.meta.dirname, "..");
const say = (line: string) => process.stderr.write(`contract: ${line}\n`);
const st = process.env.SCHEMATHESIS_BIN;
if (!st) {
  say("SCHEMATHESIS_BIN is not set: run this through `npm run test:contract`");
  process.exit(2);
}
const maxExamples = Number(process.env.CONTRACT_MAX_EXAMPLES ?? 10);
const seed = Number(process.env.CONTRACT_SEED ?? 20261207);
const tokens = (process.env.CONTRACT_TOKENS ?? "user,admin").split(",").filter(Boolean);
const keep = process.env.CONTRACT_KEEP === "1";
const extra = (process.env.CONTRACT_EXTRA ?? "").split(" ").filter(Boolean);

const runDir = mkdtempSync(join(tmpdir(), "trellis-contract-"));
const suffix = randomBytes(3).toString("hex");
let stack: Stack | undefined;
const services: ServiceProcess[] = [];
let current: ReturnType<typeof spawn> | undefined;

let dns: Socket | undefined;

async function stopAll(): Promise<void> {
  current?.kill("SIGTERM");
  dns?.close();
  await Promise.allSettled(services.map((s) => s.stop()));
  await stack?.stop();
  if (keep) say(`kept ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping`);
    void stopAll().then(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const started = Date.now();
  stack = await startStack({ dataDir: join(runDir, "data"), log: say });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const admin = { username: `contract-admin-${suffix}`, password: `contract-${randomBytes(12).toString("hex")}` };
  // Nothing the fuzzer makes the platform fetch may leave this machine, not even a DNS query: the
  // egress policy resolves user-given names with a local server that knows none (NXDOMAIN at
  // once), yt-dlp is a stand-in that fails every download (tools/schemathesis/yt-dlp-offline),
  // and Node's fetch goes to a proxy address where nothing listens.
  dns = await nxdomainServer();
  const noEgress = "http://127.0.0.1:9";
  const env: Record<string, string> = {
    ...serviceEnv(stack),
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "info", // startService waits for the "service ready" line
    TRELLIS_ADMIN_USERNAME: admin.username,
    TRELLIS_ADMIN_PASSWORD: admin.password,
    // One token per run: a run can take longer than the default 15 minutes.
    ACCESS_TOKEN_TTL_SECONDS: "7200",
    // The fuzzer fails logins by the thousand from this one address, and may learn the accounts'
    // usernames (GET /api/v2/users): without this, every later run's own login would be a 429.
    LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
    LOGIN_MAX_FAILURES_PER_CLIENT: "1000000",
    YTDLP_PATH: join(root, "tools", "schemathesis", "yt-dlp-offline"),
    EGRESS_DNS_SERVERS: `127.0.0.1:${(dns.address() as { port: number }).port}`,
    NODE_USE_ENV_PROXY: "1",
    HTTP_PROXY: noEgress,
    HTTPS_PROXY: noEgress,
    NO_PROXY: "127.0.0.1,localhost,::1",
  };
  const dbEnv = (service: string): Record<string, string> => ({
    MONGO_DB: `contract_${service}_${suffix}`,
    ...(service === "auth" || service === "analysis" ? { REDIS_KEY_PREFIX: `contract:${service}:${suffix}:` } : {}),
  });
  // Auth first (the admin is created at its start), then the others side by side.
  const startOne = async (name: string) => {
    const proc = spawnService(name, { ...env, ...dbEnv(name) }, { logFile: join(runDir, `${name}.log`) });
    services.push(proc);
    // A loaded 2-core machine (CI runs this beside nothing, a developer beside anything) can take a while.
    await proc.waitForLog((l) => l.msg === "service ready", 120_000);
  };
  await startOne("auth");
  await Promise.all(SERVICE_NAMES.filter((n) => n !== "auth").map(startOne));
  await waitReady(base);
  say(`stack ready at ${base} in ${Math.round((Date.now() - started) / 1000)} s (logs in ${runDir})`);

  const user = { username: `contract-user-${suffix}`, password: `contract-${randomBytes(12).toString("hex")}` };
  const registered = await fetch(`${base}/api/v2/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(user),
  });
  if (registered.status !== 201)
    throw new Error(`registering the user: ${registered.status} ${await registered.text()}`);
  const tokenFor = async (who: { username: string; password: string }): Promise<string> => {
    const res = await fetch(`${base}/api/v2/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "password", ...who }),
    });
    if (res.status !== 200) throw new Error(`token for ${who.username}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const accounts: Record<string, { username: string; password: string }> = { user, admin };
  const results: { run: string; code: number; seconds: number; summary: string }[] = [];
  for (const who of tokens) {
    const account = accounts[who];
    if (!account) throw new Error(`CONTRACT_TOKENS: unknown token ${JSON.stringify(who)} (user, admin)`);
    // Two runs per token: everything but the operations that end the caller's own session, then
    // those alone with a fresh token, so a logout (or an admin deleting itself) cannot turn the
    // rest of the run into 401s.
    for (const [part, filter] of [
      ["", ENDS_OWN_SESSION.flatMap((id) => ["--exclude-operation-id", id])],
      ["-last", ENDS_OWN_SESSION.flatMap((id) => ["--include-operation-id", id])],
    ] as const) {
      const run = `${who}${part}`;
      // A fresh session for each run: the one before may have ended the others (revokeSessions).
      const token = await tokenFor(account);
      const reportDir = join(runDir, `report-${run}`);
      mkdirSync(reportDir, { recursive: true });
      const t0 = Date.now();
      say(`schemathesis, ${run}: the ${who} token, ${maxExamples} examples per operation, seed ${seed}`);
      const code = await runSchemathesis(base, token, reportDir, filter);
      const seconds = Math.round((Date.now() - t0) / 1000);
      results.push({ run, code, seconds, summary: junitSummary(join(reportDir, "junit.xml")) });
    }
  }
  say(`summary (${Math.round((Date.now() - started) / 1000)} s in all):`);
  for (const r of results) say(`  ${r.run}: ${r.code === 0 ? "passed" : "FAILED"}, ${r.summary}, ${r.seconds} s`);
  return results.every((r) => r.code === 0) ? 0 : 1;
}

/** A DNS server on 127.0.0.1 that answers every query "no such name" (RFC 1035 RCODE 3). */
function nxdomainServer(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.on("message", (query, peer) => {
      if (query.length < 12) return;
      const reply = Buffer.from(query);
      // QR=1, opcode and RD as asked, RA=1, RCODE=3; no answer, authority or additional records.
      reply[2] = 0x80 | ((query[2] ?? 0) & 0x79);
      reply[3] = 0x83;
      reply.writeUInt16BE(0, 6);
      reply.writeUInt16BE(0, 8);
      reply.writeUInt16BE(0, 10);
      // Only the header and the question: drop any EDNS record after the first question.
      let end = 12;
      while (end < reply.length && reply[end] !== 0) end += (reply[end] ?? 0) + 1;
      socket.send(reply.subarray(0, Math.min(reply.length, end + 5)), peer.port, peer.address);
    });
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve(socket));
  });
}

async function waitReady(base: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the stack did not become ready within 60 s");
}

/**
 * Operations that end the session of the token that calls them: run last, each token's second run.
 * (Logging out; revoking a session by id, which stateful links find in `GET /api/v2/sessions`; an
 * admin changing its own password or deleting itself, found through `GET /api/v2/me`.) Routes
 * added later that can end the caller's own session go here.
 */
const ENDS_OWN_SESSION = ["logout", "setPassword", "deleteUser", "revokeSession"];

function runSchemathesis(base: string, token: string, reportDir: string, filter: readonly string[]): Promise<number> {
  const args = [
    "--config-file",
    process.env.CONTRACT_CONFIG ?? join(root, "tools", "schemathesis", "schemathesis.toml"),
    "run",
    `${base}/openapi.json`,
    "--phases",
    "examples,coverage,fuzzing,stateful",
    "--max-examples",
    String(maxExamples),
    "--seed",
    String(seed),
    // One worker: hypothesis under CPython 3.11 fails now and then with two ("AST constructor
    // recursion depth mismatch"), and the two cores are busy serving the requests anyway.
    "--workers",
    "1",
    "--report",
    "junit",
    "--report-junit-path",
    join(reportDir, "junit.xml"),
    "--no-color",
    ...filter,
    ...extra,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(st as string, args, {
      cwd: runDir, // its cache (.schemathesis/) goes with the run
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        TRELLIS_CONTRACT_TOKEN: token,
        SCHEMATHESIS_HOOKS: join(root, "tools", "schemathesis", "hooks.py"),
      },
    });
    current = child;
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      current = undefined;
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** "N operations, M with failures" from schemathesis' JUnit report. */
function junitSummary(path: string): string {
  let xml: string;
  try {
    xml = readFileSync(path, "utf8");
  } catch {
    return "no report";
  }
  const cases = xml.match(/<testcase\b/g)?.length ?? 0;
  const failed = xml.match(/<testcase\b[^>]*>\s*<(failure|error)\b/g)?.length ?? 0;
  return `${cases} operations, ${failed} with failures`;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  say(`failed: ${(err as Error).stack ?? err}`);
  for (const s of services) {
    say(`--- last lines of ${s.name}'s log ---`);
    process.stderr.write(`${s.output().split("\n").slice(-20).join("\n")}\n`);
  }
  writeFileSync(join(runDir, "error.txt"), String(err));
} finally {
  if (!stopping) await stopAll();
}
process.exit(code);
