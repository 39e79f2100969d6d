import { TrellisError } from "@trellis/contracts";

/**
 * Refuses bytes that would take a user past their storage quota (`quota` 0: no quota). `used` is
 * what the user's stored pictures, thumbnails and videos take; `adding` what this upload has (or
 * declares) so far. Two uploads of one user at the same moment may each pass and together exceed
 * it by at most one upload: the quota is a limit on what a user keeps, not a lock.
 */
export function checkQuota(used: number, adding: number, quota: number): void {
  if (quota <= 0 || used + adding <= quota) return;
  throw new TrellisError(
    "payload_too_large",
    `storage quota exceeded: ${used} of ${quota} bytes are used and this upload needs ${adding}`,
  );
}
