/**
 * Test videos made by the real ffmpeg (Debian's; `.ci/run` installs it): an H.264 MP4 of a test
 * pattern, with a sine tone when `audio` is set.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function testVideo(options: { seconds: number; pattern?: "testsrc" | "testsrc2"; audio?: boolean }): Buffer {
  const { seconds, pattern = "testsrc", audio = false } = options;
  const dir = mkdtempSync(join(tmpdir(), "trellis-video-"));
  try {
    const file = join(dir, "clip.mp4");
    const input = ["-f", "lavfi", "-i", `${pattern}=size=320x240:rate=25:duration=${seconds}`];
    const sound = audio ? ["-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`] : [];
    const encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];
    const encodeSound = audio ? ["-c:a", "aac", "-shortest"] : [];
    execFileSync("ffmpeg", ["-v", "error", ...input, ...sound, ...encode, ...encodeSound, file], { stdio: "ignore" });
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
