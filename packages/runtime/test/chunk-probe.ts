/**
 * A source of stream chunks for the byte-stream and byte-upload tests, which records how far ahead
 * of its consumer it got and when it ended.
 */
import { STREAM_CHUNK_BYTES } from "../src/byte-stream.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What a source did, seen from the sender's side. */
export class Probe {
  /** Chunks the source has handed out so far. */
  produced = 0;
  /** Chunks the consumer has finished with (the test's consumer counts them). */
  consumed = 0;
  /** The most chunks the source was ever ahead of the consumer. */
  maxAhead = 0;
  /** Date.now() when the source's `finally` ran. */
  finishedAt: number | undefined;

  /**
   * `count` chunks of exactly STREAM_CHUNK_BYTES (one source item = one stream chunk), optionally
   * pausing before each, or failing with `fail` instead of chunk number `fail.at`.
   */
  async *source(
    count = Number.POSITIVE_INFINITY,
    options: { pauseMs?: number; fail?: { at: number; error: Error } } = {},
  ): AsyncGenerator<Uint8Array> {
    try {
      for (let i = 0; i < count; i++) {
        if (options.fail?.at === i) throw options.fail.error;
        if (options.pauseMs) await sleep(options.pauseMs);
        this.produced += 1;
        this.maxAhead = Math.max(this.maxAhead, this.produced - this.consumed);
        yield new Uint8Array(STREAM_CHUNK_BYTES).fill(i & 0xff);
      }
    } finally {
      this.finishedAt = Date.now();
    }
  }
}
