/**
 * Group commit: what arrives while a batch is being written waits and goes into the next batch, so
 * one write serves many callers under load and a lone caller waits for nobody. For stores whose
 * server writes one transaction at a time (the MongoDB-protocol stand-in; SQLite underneath), a
 * batch costs about what one document costs.
 *
 * `write` answers one outcome per item, in order. If it throws, every caller of that batch gets the
 * error.
 */
export class GroupCommit<I, O> {
  private waiting: { item: I; resolve: (out: O) => void; reject: (err: unknown) => void }[] = [];
  private busy = false;

  private readonly write: (items: I[]) => Promise<O[]>;
  private readonly maxBatch: number;

  constructor(write: (items: I[]) => Promise<O[]>, maxBatch = 100) {
    this.write = write;
    this.maxBatch = maxBatch;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        try {
          const out = await this.write(batch.map((b) => b.item));
          if (out.length !== batch.length)
            throw new Error(`group commit: ${out.length} outcomes for ${batch.length} items`);
          batch.forEach((b, i) => {
            b.resolve(out[i] as O);
          });
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
