/** Euclidean distance between two face encodings of the same dimension (dlib's measure). */
export function faceDistance(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/** Whether a submitted encoding is the same face as the stored one, within `tolerance`. */
export function faceMatches(stored: readonly number[], submitted: readonly number[], tolerance: number): boolean {
  return faceDistance(stored, submitted) <= tolerance;
}
