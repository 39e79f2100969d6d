import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NoticePublisher } from "@trellis/runtime";
import type { Logger } from "pino";
import { StoredWatch } from "../ingest/stored-watch.ts";

export interface ReadYourWritesDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  notices: NoticePublisher;
  log: Logger;
}

/**
 * Read-your-writes for readings submitted over HTTP: ingest rounds announce what they stored
 * (`notify`), and a submission waits for its own reading (`waitFor`), whichever instance wrote it.
 */
export async function startReadYourWrites({ nc, jsm, notices, log }: ReadYourWritesDeps): Promise<StoredWatch> {
  const watch = new StoredWatch(nc, jsm, notices, log.child({ component: "stored-watch" }));
  await watch.start();
  return watch;
}
