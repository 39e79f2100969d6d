/**
 * Baseline for bench/auth.ts: argon2id verify/s at the auth service's parameters, in a process of
 * its own configured like the auth service (libuv pool sized to the CPUs), `concurrency` at a time.
 * Usage: node bench/argon2-verify.ts <seconds> <concurrency>; prints verifies per second.
 */
import "../services/auth/src/thread-pool.ts";
import argon2 from "argon2";

const seconds = Number(process.argv[2] ?? 10);
const concurrency = Number(process.argv[3] ?? 4);
const params = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const password = "Bench-Password-8237";
const hash = await argon2.hash(password, params);
let verified = 0;
const until = Date.now() + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      if (!(await argon2.verify(hash, password))) throw new Error("verify failed");
      verified++;
    }
  }),
);
process.stdout.write(`${verified / seconds}\n`);
