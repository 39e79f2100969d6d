import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, TrellisError } from "@trellis/contracts";
import { dictionary } from "@zxcvbn-ts/language-common";

export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH };

/** The ~49k most common passwords (zxcvbn-ts), lowercased once. */
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(dictionary["passwords-common"].map((p) => p.toLowerCase()));

export interface PolicyContext {
  /** The account's username; a password equal to it (ignoring case) is refused. */
  username?: string | undefined;
}

/**
 * Why a new password is refused, or null when it is acceptable: length 8..128 (counted in code
 * points), not one of the common passwords (ignoring case), not the username (ignoring case).
 */
export function passwordProblem(password: string, context: PolicyContext = {}): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return "password is too common";
  if (context.username !== undefined && lower === context.username.toLowerCase()) {
    return "password must not be the username";
  }
  return null;
}

/** Throws `invalid_argument` when the password violates the policy. */
export function assertPasswordPolicy(password: string, context: PolicyContext = {}): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new TrellisError("invalid_argument", problem);
}
