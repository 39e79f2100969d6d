import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface RunOptions {
  /** The job's directory: the child works there, which is also how start-up cleanup finds orphans. */
  cwd: string;
  /** Aborting kills the child's whole process group (SIGKILL) and the run rejects with the reason. */
  signal: AbortSignal;
  /** Each line of stdout (when `captureStdout` is not set). */
  onLine?(line: string): void;
  /** Keep stdout (up to this many bytes; more → the child is killed and the run rejects). */
  captureStdout?: number;
  onStart?(pid: number | undefined): void;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  /** The first 8 KiB of stderr, for error messages. */
  stderr: string;
}

/** Thrown when a child's stdout outgrows `captureStdout`. */
export class OutputTooLargeError extends Error {
  override readonly name = "OutputTooLargeError";
}

/** Kills a process group; a group already gone is not an error. */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * Runs a tool (ffmpeg, yt-dlp) in a process group of its own, so that on abort the tool and every
 * child it started die together; resolves once the process has exited (never leaves one behind).
 */
export async function runInGroup(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  options.signal.throwIfAborted();
  const child = spawn(command, args, { cwd: options.cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const pid = child.pid;
  options.onStart?.(pid);
  let tooLarge = false;
  const kill = () => killGroup(pid);
  options.signal.addEventListener("abort", kill, { once: true });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    if (stderr.length < 8_192) stderr += d;
  });
  let stdout = "";
  const lines = options.captureStdout === undefined ? createInterface({ input: child.stdout }) : undefined;
  if (lines) lines.on("line", (line) => options.onLine?.(line));
  else {
    const limit = options.captureStdout ?? 0;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      if (stdout.length > limit && !tooLarge) {
        tooLarge = true;
        kill();
      }
    });
  }
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (c) => resolve(c));
    });
    options.signal.throwIfAborted();
    if (tooLarge) throw new OutputTooLargeError(`${command} wrote more than ${options.captureStdout} bytes`);
    return { code, stdout, stderr };
  } finally {
    options.signal.removeEventListener("abort", kill);
    lines?.close();
  }
}
