import { MongoServerError } from "mongodb";

/** E11000: a unique index refused the write. */
export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === 11000;
