import { MongoBulkWriteError, MongoServerError } from "mongodb";

/** E11000: a unique index refused the write. */
export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === 11000;

/**
 * The indexes of the operations a bulk write refused with a duplicate key; rethrows any other
 * failure. Used where a duplicate means "already done" (a redelivered reading) or "retry once"
 * (two instances upserting the same rollup at the same moment).
 */
export function duplicateIndexes(err: unknown): number[] {
  if (!(err instanceof MongoBulkWriteError)) throw err;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0 || errors.some((e) => e.code !== 11000)) throw err;
  return errors.map((e) => e.index);
}
