import { type Db, MongoBulkWriteError, MongoClient, MongoServerError } from "mongodb";

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Opens the service's own database. Fails fast (5 s) when no server is reachable. */
export async function connectMongo(url: string, dbName: string, appName: string): Promise<MongoHandle> {
  const client = new MongoClient(url, { appName, serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  const db = client.db(dbName);
  return {
    client,
    db,
    ping: async () => {
      await db.command({ ping: 1 });
    },
    close: () => client.close(),
  };
}

/** Connects the service's own database and closes it on shutdown (after NATS handlers drained). */
export async function openMongo(
  ctx: { shutdown: { add(name: string, run: () => unknown): void }; instance: string },
  url: string,
  dbName: string,
): Promise<MongoHandle> {
  const mongo = await connectMongo(url, dbName, ctx.instance);
  ctx.shutdown.add("mongodb client", () => mongo.close());
  return mongo;
}

/** MongoDB's code when a unique index refused the write (E11000): services test it only through the predicates below. */
const DUPLICATE_KEY = 11000;

/** A unique index refused the write. */
export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;

/**
 * The indexes of the operations a bulk write refused with a duplicate key; rethrows any other
 * failure. For writes where a duplicate means "already done" (a redelivered reading) or "retry
 * once" (two instances upserting the same document at the same moment).
 */
export function duplicateIndexes(err: unknown): number[] {
  if (!(err instanceof MongoBulkWriteError)) throw err;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw err;
  return errors.map((e) => e.index);
}

/**
 * Most write statements sent in one command. It was 50 while the test server (FerretDB 1.24) kept
 * each matching update statement's query, and so one of its 100 SQLite connections, open until
 * the whole command ended: the 100th statement waited forever. Our FerretDB patch now closes each
 * statement's query (tools/ferretdb/patches/atomic-updates.patch, regression-tested in
 * packages/stack), so this only bounds how long one command holds the collection; 50 vs 1,000
 * measured the same in bench:telemetry.
 */
export const MAX_STATEMENTS_PER_COMMAND = 1_000;

/** `ops` in consecutive slices of at most `size` (for `bulkWrite`s that may grow with a round). */
export function chunked<T>(ops: readonly T[], size = MAX_STATEMENTS_PER_COMMAND): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < ops.length; i += size) out.push(ops.slice(i, i + size));
  return out;
}
