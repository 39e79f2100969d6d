/**
 * Redis for BullMQ: an append-only file fsynced every second (a process crash loses nothing
 * acknowledged, a power cut at most about a second of writes) and no eviction (BullMQ's keys must
 * never be dropped to make room: a full Redis then refuses writes instead). No RDB snapshots:
 * the AOF is the record. Flags only, so they work as the command of the official image (whose
 * entrypoint puts `redis-server` in front) and of the local one (entrypoint `redis-server`).
 */
export const REDIS_DURABILITY_ARGS: readonly string[] = [
  "--appendonly",
  "yes",
  "--appendfsync",
  "everysec",
  "--maxmemory-policy",
  "noeviction",
  "--save",
  "",
];
