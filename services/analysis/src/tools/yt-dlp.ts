import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { TrellisError } from "@trellis/contracts";
import { classifyYtDlpError } from "../domain/yt-dlp-errors.ts";
import { FinalError } from "../errors/final-error.ts";
import { OutputTooLargeError, type RunOptions, runInGroup } from "./process-group.ts";

/**
 * Options every run shares: no user or system config file, no cache, one video (never a
 * playlist), network timeouts short enough that a dead origin fails fast (then the job retries).
 */
const COMMON = ["--ignore-config", "--no-cache-dir", "--no-playlist", "--socket-timeout", "20", "--retries", "2"];

/** Checks at start-up that yt-dlp runs; its version, or an error saying what to do. */
export async function ytDlpVersion(path: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(path, ["--version"], { timeout: 30_000 });
    return stdout.trim();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `YTDLP_PATH: cannot run yt-dlp at ${JSON.stringify(path)} (${why}); run 'bash scripts/install-deps.sh' or set YTDLP_PATH to a yt-dlp executable`,
    );
  }
}

export interface YtDlpRun extends Omit<RunOptions, "signal"> {
  path: string;
  signal: AbortSignal;
  /** Longest the run may take; then it is killed and fails as transient. */
  timeoutMs: number;
}

/**
 * Runs yt-dlp in its own process group (killed with its children on abort or timeout). A failed
 * run becomes a final `FinalError("invalid_argument")` (the origin refused the URL, no video there)
 * or a retryable `TrellisError("unavailable")` (network, 5xx).
 */
export async function runYtDlp(args: readonly string[], run: YtDlpRun): Promise<string> {
  const timeout = AbortSignal.timeout(run.timeoutMs);
  const signal = AbortSignal.any([run.signal, timeout]);
  let result: Awaited<ReturnType<typeof runInGroup>>;
  try {
    result = await runInGroup(run.path, [...COMMON, ...args], { ...run, signal });
  } catch (err) {
    if (run.signal.aborted) throw err;
    if (timeout.aborted) throw new TrellisError("unavailable", `yt-dlp took longer than ${run.timeoutMs} ms`);
    if (err instanceof OutputTooLargeError) throw new FinalError("invalid_argument", err.message);
    throw err;
  }
  if (result.code === 0) return result.stdout;
  const failure = classifyYtDlpError(result.stderr);
  if (failure.kind === "invalid") throw new FinalError("invalid_argument", failure.message);
  throw new TrellisError("unavailable", `yt-dlp: ${failure.message}`);
}
