import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { deviceSubjects, READINGS_STREAM } from "@trellis/contracts";
import type { Logger } from "pino";

const nanos = (ms: number): number => ms * 1_000_000;
const DAY_MS = 86_400_000;

/** JetStream refuses a message larger than this; readings carry up to two ~1.5 MB strings. */
export const READINGS_MAX_MSG_BYTES = 4 * 1024 * 1024;
/** A retried publish with the same `Nats-Msg-Id` within this window is stored once. */
export const READINGS_DUPLICATE_WINDOW_MS = 2 * 60_000;

const isNotFound = (err: unknown) => /not found/i.test((err as Error).message);

/**
 * Creates the readings stream, or brings an existing one to this configuration (several instances
 * may start at once: a concurrent create is fine). Storage cannot change on an existing stream.
 */
export async function ensureReadingsStream(jsm: JetStreamManager, maxAgeDays: number, log: Logger): Promise<void> {
  const config = {
    subjects: [deviceSubjects.readingsWildcard],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(maxAgeDays * DAY_MS),
    duplicate_window: nanos(READINGS_DUPLICATE_WINDOW_MS),
    max_msg_size: READINGS_MAX_MSG_BYTES,
  };
  try {
    const info = await jsm.streams.info(READINGS_STREAM);
    if (info.config.storage !== StorageType.File) {
      log.warn({ stream: READINGS_STREAM, storage: info.config.storage }, "readings stream is not file-backed");
    }
    await jsm.streams.update(READINGS_STREAM, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add({ name: READINGS_STREAM, storage: StorageType.File, ...config });
    } catch (addErr) {
      if (!/already in use/i.test((addErr as Error).message)) throw addErr;
    }
  }
}

/** Whether a stream exists. */
export async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    await jsm.streams.info(name);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export type DurableConfig = Partial<ConsumerConfig> & { durable_name: string };

/**
 * Creates a durable pull consumer shared by every instance, idempotently: an identical one is
 * accepted as is, an existing one with other settings is updated where JetStream allows it.
 */
export async function ensureDurableConsumer(jsm: JetStreamManager, stream: string, config: DurableConfig) {
  const full: DurableConfig = {
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ...config,
  };
  try {
    await jsm.consumers.add(stream, full);
  } catch (err) {
    if (!/already exists|already in use/i.test((err as Error).message)) throw err;
    const { ack_wait, max_ack_pending, filter_subject, max_deliver, description } = full;
    await jsm.consumers.update(stream, config.durable_name, {
      ...(ack_wait === undefined ? {} : { ack_wait }),
      ...(max_ack_pending === undefined ? {} : { max_ack_pending }),
      ...(filter_subject === undefined ? {} : { filter_subject }),
      ...(max_deliver === undefined ? {} : { max_deliver }),
      ...(description === undefined ? {} : { description }),
    });
  }
}

export { nanos };
