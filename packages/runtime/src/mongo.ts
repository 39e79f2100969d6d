import { type Db, MongoClient } from "mongodb";

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
