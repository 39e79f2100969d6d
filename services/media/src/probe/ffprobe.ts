import { spawn } from "node:child_process";
import { summarizeProbe, UNKNOWN_PROBE, type VideoProbe } from "../domain/probe-summary.ts";

/** Most ffprobe output kept: its JSON report is a few KiB. */
const MAX_REPORT_BYTES = 1024 * 1024;

/**
 * ffprobe reading a video as it is uploaded (its standard input gets the same bytes as GridFS), so
 * probing costs no second read of the file. ffprobe usually stops after the headers; once it has
 * exited the rest is not sent. When ffprobe is not installed, or fails, or takes longer than
 * `timeoutMs` after the last byte, the result is all null: a video is stored either way.
 */
export class StreamingProbe {
  private readonly child;
  private readonly report: Promise<VideoProbe>;
  private exited = false;

  private readonly timeoutMs: number;

  constructor(command: string, timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.child = spawn(
      command,
      ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-i", "pipe:0"],
      { stdio: ["pipe", "pipe", "ignore"] },
    );
    const out: Buffer[] = [];
    let bytes = 0;
    this.child.stdout.on("data", (b: Buffer) => {
      bytes += b.length;
      if (bytes <= MAX_REPORT_BYTES) out.push(b);
    });
    // A closed pipe (ffprobe has seen enough, or is not installed) is expected, not a failure.
    this.child.stdin.on("error", () => {});
    this.report = new Promise((resolve) => {
      this.child.once("error", () => {
        this.exited = true;
        resolve(UNKNOWN_PROBE);
      });
      this.child.once("close", (code) => {
        this.exited = true;
        if (code !== 0 || bytes > MAX_REPORT_BYTES) return resolve(UNKNOWN_PROBE);
        try {
          resolve(summarizeProbe(JSON.parse(Buffer.concat(out).toString("utf8"))));
        } catch {
          resolve(UNKNOWN_PROBE);
        }
      });
    });
  }

  /** Feeds bytes, waiting while ffprobe's pipe is full; a no-op once ffprobe has exited. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.exited || this.child.stdin.destroyed) return;
    if (this.child.stdin.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.child.stdin.off("drain", done);
        this.child.off("close", done);
        resolve();
      };
      this.child.stdin.once("drain", done);
      this.child.once("close", done);
    });
  }

  /** Ends the input and waits for the report (at most `timeoutMs`). */
  async finish(): Promise<VideoProbe> {
    if (!this.child.stdin.destroyed) this.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<VideoProbe>((resolve) => {
      timer = setTimeout(() => {
        this.kill();
        resolve(UNKNOWN_PROBE);
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([this.report, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops ffprobe (the upload failed). */
  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}
