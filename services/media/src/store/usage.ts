/** What one user's stored files take, in bytes, across the buckets (for the quota). */
export class Usage {
  private readonly parts: readonly ((userId: string) => Promise<number>)[];

  /** Each part counts one bucket's bytes of a user. */
  constructor(parts: readonly ((userId: string) => Promise<number>)[]) {
    this.parts = parts;
  }

  async of(userId: string): Promise<number> {
    const totals = await Promise.all(this.parts.map((bytesOf) => bytesOf(userId)));
    return totals.reduce((a, b) => a + b, 0);
  }
}
