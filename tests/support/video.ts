/**
 * Test videos made by the real ffmpeg (Debian's; `.ci/run` installs it): an H.264 MP4 of a test
 * pattern, with a sine tone when `audio` is set. `noisy` adds per-frame noise, which x264 cannot
 * compress away: about 150 KB per second at 1.2 Mbit/s, for uploads long enough to interrupt.
 * `fakeMp4` is random bytes behind an MP4 signature, for tests that only need the type and the bytes.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function testVideo(options: {
  seconds: number;
  pattern?: "testsrc" | "testsrc2";
  audio?: boolean;
  size?: `${number}x${number}`;
  noisy?: boolean;
}): Buffer {
  const { seconds, pattern = "testsrc", audio = false, size = "320x240", noisy = false } = options;
  const dir = mkdtempSync(join(tmpdir(), "trellis-video-"));
  try {
    const file = join(dir, "clip.mp4");
    const input = ["-f", "lavfi", "-i", `${pattern}=size=${size}:rate=25:duration=${seconds}`];
    // Big ones put their index first (as videos for the web do): a player needs no second request for it.
    const noise = noisy
      ? [
          "-vf",
          "noise=alls=30:allf=t",
          "-b:v",
          "1200k",
          "-maxrate",
          "1200k",
          "-bufsize",
          "2400k",
          "-movflags",
          "+faststart",
        ]
      : [];
    const sound = audio ? ["-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`] : [];
    const encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];
    const encodeSound = audio ? ["-c:a", "aac", "-shortest"] : [];
    execFileSync("ffmpeg", ["-v", "error", ...input, ...sound, ...noise, ...encode, ...encodeSound, file], {
      stdio: "ignore",
    });
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes that sniff as MP4 (an `ftyp` box) followed by random data: enough for type, Range and upload tests. */
export function fakeMp4(size: number): Buffer {
  const b = randomBytes(size);
  Buffer.concat([
    Buffer.from([0, 0, 0, 0x18]),
    Buffer.from("ftypisom"),
    Buffer.from([0, 0, 2, 0]),
    Buffer.from("isomiso2"),
  ]).copy(b);
  return b;
}

export const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
