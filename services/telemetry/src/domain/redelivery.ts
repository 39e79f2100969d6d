/**
 * Whether a round may hold readings an earlier delivery already stored, so that storing it must
 * first leave those out (a lookup the common round does without).
 *
 * A message JetStream marks as redelivered may have been stored by the delivery that did not ack
 * it. But a NATS server killed (SIGKILL, power cut) restarts with its durable consumer's state as
 * it last wrote it, and that write lags (the stream's messages are fsynced before their PubAck,
 * the consumer's acks are not): messages this process stored and acked can then come again as
 * first deliveries. Stream sequences do not go back, so one at or below the highest this process
 * has acked is such a message (or, with two instances, one the other instance was given first:
 * a lookup for nothing, not a wrong answer).
 */
export function maySeeStoredAgain(
  round: readonly { seq: number; redelivered: boolean }[],
  highestAckedSeq: number,
): boolean {
  return round.some((m) => m.redelivered || m.seq <= highestAckedSeq);
}

/**
 * The ingest consumer's ack floor as a NATS server that crashes now would still know it: the
 * highest floor sampled at least `settleMs` ago. The server writes the consumer's state some
 * seconds after the acks (measured with nats-server 2.14: a SIGKILL right after 2,000 acks
 * restarted with the floor at 0 and delivered them all again as first deliveries; 12 s after,
 * the floor had been written), so what lies below a floor that old is on disk. Pruning the
 * per-monitor lists of counted sequences below the live floor could let a reading delivered again
 * after such a crash be counted twice.
 */
export class SettledAckFloor {
  private readonly settleMs: number;
  private samples: { at: number; floor: number }[] = [];
  private settled = 0;

  constructor(settleMs: number) {
    this.settleMs = settleMs;
  }

  /** Records a floor read from the server at `now`. */
  sample(floor: number, now: number): void {
    this.samples.push({ at: now, floor });
    this.advance(now);
  }

  /** The highest floor sampled at least `settleMs` before `now` (0 until then). */
  value(now: number): number {
    this.advance(now);
    return this.settled;
  }

  private advance(now: number): void {
    while (this.samples.length > 0 && (this.samples[0] as { at: number }).at <= now - this.settleMs) {
      this.settled = Math.max(this.settled, (this.samples.shift() as { floor: number }).floor);
    }
  }
}
