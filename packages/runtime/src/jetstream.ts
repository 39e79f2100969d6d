import { isDeepStrictEqual } from "node:util";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  type StreamConfig,
  type StreamInfo,
  type StreamUpdateConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { withJsRetry } from "./js-retry.ts";

/**
 * JetStream API error codes (`err_code`) that setup code reacts to. nats.js names only some in
 * `JetStreamApiCodes`; the others are nats-server's (server/errors.json), stable across versions.
 */
export const JsApiCodes = {
  ...JetStreamApiCodes,
  /** JSStreamNameExistErr: "stream name already in use with a different configuration". */
  StreamNameInUse: 10058,
  /** JSConsumerAlreadyExists: a create found the consumer with another configuration. */
  ConsumerAlreadyExists: 10148,
  /** JSConsumerNameExistErr: "consumer name already in use" (the older durable-create API). */
  ConsumerNameInUse: 10013,
} as const;

/** Whether `err` is a JetStream API error with one of these codes. */
export function isJsApiError(err: unknown, ...codes: number[]): err is JetStreamApiError {
  return err instanceof JetStreamApiError && codes.includes(err.code);
}

/** JetStream configures durations in nanoseconds. */
export const nanos = (ms: number): number => ms * 1_000_000;

/** Accepts a connection or a manager, so callers that already hold a manager don't build another. */
const managerOf = async (target: NatsConnection | JetStreamManager): Promise<JetStreamManager> =>
  "streams" in target ? target : jetstreamManager(target);

/** A stream's wanted configuration: a name and subjects, the rest as in nats.js's `StreamConfig`. */
export type StreamSpec = Partial<StreamConfig> & { name: string; subjects: string[] };

/** A setting `ensureStream`/`ensureDurableConsumer` could not apply to what exists; the caller decides whether to log. */
export interface SetupWarning {
  field: string;
  wanted: unknown;
  actual: unknown;
  message: string;
}

export interface Ensured<Info> {
  /** `created` also when another instance created the identical thing at the same moment. */
  action: "created" | "updated" | "unchanged";
  info: Info;
  warnings: SetupWarning[];
}

/** Logs what JetStream kept of an existing stream or consumer against the service's wishes; returns it. */
export function logSetupWarnings<E extends Ensured<unknown>>(
  log: { warn(obj: object, msg: string): void },
  ensured: E,
): E {
  for (const w of ensured.warnings) log.warn({ field: w.field, wanted: w.wanted, actual: w.actual }, w.message);
  return ensured;
}

/** The fields of `wanted` whose value differs from `actual` (unset fields don't count). */
function differing<T extends object>(wanted: T, actual: object, skip: readonly string[]): Partial<T> {
  const changes: Partial<T> = {};
  for (const [key, value] of Object.entries(wanted)) {
    if (value === undefined || skip.includes(key)) continue;
    if (!isDeepStrictEqual(value, (actual as Record<string, unknown>)[key])) {
      (changes as Record<string, unknown>)[key] = value;
    }
  }
  return changes;
}

/**
 * Creates a stream, or brings an existing one to `spec`: every field given is applied, fields not
 * given keep their current value (so a service that only wants another service's stream to exist
 * does not undo that service's settings). Storage cannot change on an existing stream: it is kept
 * and reported in `warnings`. Safe when several instances start at once: an identical concurrent
 * create succeeds for both, a different one ends in an update. Transient JetStream failures (no
 * meta leader yet, a node of the cluster down: `isTransientJsError`) are retried with backoff for
 * up to 30 s, as every step is idempotent. `num_replicas` is the service's `JETSTREAM_REPLICAS`.
 */
export function ensureStream(
  target: NatsConnection | JetStreamManager,
  spec: StreamSpec,
): Promise<Ensured<StreamInfo>> {
  return withJsRetry(() => ensureStreamOnce(target, spec));
}

async function ensureStreamOnce(
  target: NatsConnection | JetStreamManager,
  spec: StreamSpec,
): Promise<Ensured<StreamInfo>> {
  const jsm = await managerOf(target);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(spec.name);
  } catch (err) {
    if (!isJsApiError(err, JsApiCodes.StreamNotFound)) throw err;
    try {
      return { action: "created", info: await jsm.streams.add(spec), warnings: [] };
    } catch (addErr) {
      // Another instance created it first, with a different configuration: update it below.
      if (!isJsApiError(addErr, JsApiCodes.StreamNameInUse)) throw addErr;
      info = await jsm.streams.info(spec.name);
    }
  }

  const warnings: SetupWarning[] = [];
  if (spec.storage !== undefined && spec.storage !== info.config.storage) {
    warnings.push({
      field: "storage",
      wanted: spec.storage,
      actual: info.config.storage,
      message: `stream ${spec.name} keeps its ${info.config.storage} storage: JetStream cannot change it`,
    });
  }
  const changes = differing(spec, info.config, ["name", "storage"]);
  if (Object.keys(changes).length === 0) return { action: "unchanged", info, warnings };
  // The update type omits `retention`, which the server does allow to change (except to/from
  // work-queue); nats.js sends the merged full configuration either way.
  const updated = await jsm.streams.update(spec.name, changes as Partial<StreamUpdateConfig>);
  return { action: "updated", info: updated, warnings };
}

/** Whether a stream exists (transient failures retried as in `ensureStream`). */
export async function streamExists(target: NatsConnection | JetStreamManager, name: string): Promise<boolean> {
  const jsm = await managerOf(target);
  return withJsRetry(async () => {
    try {
      await jsm.streams.info(name);
      return true;
    } catch (err) {
      if (isJsApiError(err, JsApiCodes.StreamNotFound)) return false;
      throw err;
    }
  });
}

/** A durable consumer's wanted configuration; explicit acks and delivery from the start unless given. */
export type DurableSpec = Partial<ConsumerConfig> & { durable_name: string };

/** Settings JetStream fixes when a consumer is created. */
const IMMUTABLE_CONSUMER_FIELDS = [
  "durable_name",
  "name",
  "ack_policy",
  "deliver_policy",
  "opt_start_seq",
  "opt_start_time",
  "replay_policy",
  "deliver_group",
  "flow_control",
  "idle_heartbeat",
] as const;

/**
 * Creates a durable pull consumer shared by every instance, idempotently: an identical one is
 * accepted as is, an existing one with other settings is updated where JetStream allows it, and a
 * setting it fixes at creation (ack or deliver policy, start position...) is kept and reported in
 * `warnings`. Safe when several instances start at once. Transient failures are retried as in
 * `ensureStream`. Its replicas are the stream's (JetStream's default).
 */
export function ensureDurableConsumer(
  target: NatsConnection | JetStreamManager,
  stream: string,
  spec: DurableSpec,
): Promise<Ensured<ConsumerInfo>> {
  return withJsRetry(() => ensureDurableConsumerOnce(target, stream, spec));
}

async function ensureDurableConsumerOnce(
  target: NatsConnection | JetStreamManager,
  stream: string,
  spec: DurableSpec,
): Promise<Ensured<ConsumerInfo>> {
  const jsm = await managerOf(target);
  const wanted: DurableSpec = { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...spec };
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(stream, spec.durable_name);
  } catch (err) {
    if (!isJsApiError(err, JsApiCodes.ConsumerNotFound)) throw err;
    try {
      return { action: "created", info: await jsm.consumers.add(stream, wanted), warnings: [] };
    } catch (addErr) {
      // Created by another instance meanwhile, with other settings: update it below.
      if (!isJsApiError(addErr, JsApiCodes.ConsumerAlreadyExists, JsApiCodes.ConsumerNameInUse)) throw addErr;
      info = await jsm.consumers.info(stream, spec.durable_name);
    }
  }

  const warnings: SetupWarning[] = [];
  for (const field of IMMUTABLE_CONSUMER_FIELDS) {
    const value = wanted[field];
    const actual = info.config[field];
    if (value !== undefined && !isDeepStrictEqual(value, actual)) {
      warnings.push({
        field,
        wanted: value,
        actual,
        message: `consumer ${spec.durable_name} on ${stream} keeps ${field}=${JSON.stringify(actual)}: JetStream fixes it at creation`,
      });
    }
  }
  const changes = differing(wanted, info.config, IMMUTABLE_CONSUMER_FIELDS);
  if (Object.keys(changes).length === 0) return { action: "unchanged", info, warnings };
  const updated = await jsm.consumers.update(stream, spec.durable_name, changes);
  return { action: "updated", info: updated, warnings };
}
