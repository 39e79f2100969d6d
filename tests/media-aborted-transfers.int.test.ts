/**
 * Transfers that stop half way: a client gone mid-download stops media's reading; a client gone
 * mid-upload, or media killed mid-upload, leaves no file and no chunk behind.
 */
import { request as httpRequest } from "node:http";
import { mediaCatalog } from "@trellis/contracts";
import { startService } from "@trellis/stack/testing";
import { describe, expect, it } from "vitest";
import { alice, base, mediaDb, platform, uploadVideo, useMediaPlatform } from "./support/media.ts";
import { within } from "./support/platform.ts";
import { fakeMp4 } from "./support/video.ts";

useMediaPlatform();

describe("a client that goes away mid-download", () => {
  it("stops media reading: the stream ends aborted, after a few chunks of the file", async () => {
    const size = 8 * 1024 * 1024;
    const id = (await uploadVideo(alice, fakeMp4(size), "filename=long.mp4")).json.id;
    const media = platform.procs.find((p) => p.name === "media");
    const read = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(new URL(`${base}/api/v2/videos/${id}/content`), {
        headers: { authorization: `Bearer ${alice.bearer}` },
      });
      req.on("error", () => {});
      req.on("response", (res) => {
        let got = 0;
        res.on("data", (c: Buffer) => {
          got += c.length;
          // Gone after the first bytes: the socket closes.
          req.destroy();
          resolve(got);
        });
        res.on("error", () => {});
      });
      req.on("close", () => setTimeout(() => reject(new Error("no body at all")), 1_000));
      req.end();
    });
    expect(read).toBeGreaterThan(0);
    const line = (await media?.waitForLog(
      (l) => l.msg === "stream sent" && l.subject === mediaCatalog.readVideo.subject && l.aborted !== undefined,
      10_000,
    )) as { bytes: number };
    // Media sent at most what the flow-control windows let through (8 × 256 KiB per hop), not the file.
    expect(line.bytes).toBeLessThan(size / 2);
  });
});

/**
 * Starts a 6 MiB upload of alice's, sends its first 2 MiB and waits until media has stored at
 * least 4 chunks more than `chunksBefore`: the request, still open, for the test to cut.
 */
async function uploadUnfinished(filename: string, chunksBefore: number) {
  const req = httpRequest(new URL(`${base}/api/v2/videos?filename=${filename}`), {
    method: "POST",
    headers: {
      authorization: `Bearer ${alice.bearer}`,
      "content-type": "video/mp4",
      "content-length": String(6 * 1024 * 1024),
    },
  });
  req.on("error", () => {});
  req.write(fakeMp4(2 * 1024 * 1024));
  const { value: during } = await within(
    10_000,
    () => mediaDb.collection("videos.chunks").countDocuments(),
    (n) => n >= chunksBefore + 4,
  );
  expect(during).toBeGreaterThanOrEqual(chunksBefore + 4);
  return req;
}

describe("a client that goes away mid-upload", () => {
  it("leaves no file and no chunk behind", async () => {
    const chunks = mediaDb.collection("videos.chunks");
    const files = mediaDb.collection("videos.files");
    const before = { chunks: await chunks.countDocuments(), files: await files.countDocuments() };
    // Media has stored some of it...
    const req = await uploadUnfinished("cut.mp4", before.chunks);
    // ...when the connection drops.
    req.destroy();
    const { value: after } = await within(
      10_000,
      async () => ({ chunks: await chunks.countDocuments(), files: await files.countDocuments() }),
      (v) => v.chunks === before.chunks,
    );
    expect(after).toEqual(before);
    const media = platform.procs.find((p) => p.name === "media");
    await media?.waitForLog((l) => l.msg === "video upload abandoned", 5_000);
  });

  it("leaves no chunk behind when media itself dies mid-upload: the sweeper removes them", async () => {
    const chunks = mediaDb.collection("videos.chunks");
    const before = await chunks.countDocuments();
    const req = await uploadUnfinished("crash.mp4", before);
    const media = platform.procs.find((p) => p.name === "media");
    await media?.stop("SIGKILL");
    platform.procs.splice(platform.procs.indexOf(media as never), 1);
    req.destroy();
    expect(await chunks.countDocuments()).toBeGreaterThan(before);
    const restarted = await startService(
      "media",
      platform.env("media", { STALE_UPLOAD_MS: "1000", UPLOAD_SWEEP_INTERVAL_MS: "200" }),
    );
    platform.procs.push(restarted);
    const { value: after } = await within(
      10_000,
      () => chunks.countDocuments(),
      (n) => n === before,
    );
    expect(after).toBe(before);
    await restarted.waitForLog((l) => l.msg === "abandoned upload removed", 5_000);
    expect(await mediaDb.collection("uploads").countDocuments()).toBe(0);
  });
});
