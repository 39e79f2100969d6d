/** Stream sequences as inclusive ranges, ascending: a round of 5,000 readings is usually one or two ranges. */
export type SeqRange = readonly [from: number, to: number];

export function toRanges(seqs: Iterable<number>): SeqRange[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const seq of sorted) {
    const last = out.at(-1);
    if (last && seq === last[1] + 1) last[1] = seq;
    else out.push([seq, seq]);
  }
  return out;
}

export const inRanges = (ranges: readonly SeqRange[], seq: number): boolean =>
  ranges.some(([from, to]) => seq >= from && seq <= to);
