import { availableParallelism } from "node:os";

/**
 * Imported first by main.ts, before anything uses libuv's thread pool (which reads the variable
 * once, when it starts). argon2id runs there, and it is CPU- and memory-bound (19 MiB per hash):
 * more threads than cores only thrash caches. Measured with bench/auth.ts on 2 cores: logins/s
 * went from 0.71 to 0.78-0.80 of raw argon2id verify with the pool at 2 instead of libuv's 4.
 * An explicit UV_THREADPOOL_SIZE in the environment wins.
 */
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, availableParallelism()));
