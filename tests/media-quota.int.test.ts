/**
 * The per-user storage quota (MEDIA_QUOTA_BYTES): declared or found out while streaming, for
 * videos and pictures; another user is not affected and a delete makes room.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  base,
  bob,
  image,
  mediaDb,
  QUOTA_BYTES,
  register,
  send,
  uploadPicture,
  uploadVideo,
  useMediaPlatform,
} from "./support/media.ts";
import { fakeMp4 } from "./support/video.ts";

useMediaPlatform();

describe("per-user storage quota (MEDIA_QUOTA_BYTES)", () => {
  it("refuses what would take a user past it with 413, declared or found out while streaming; a delete frees room", async () => {
    const erin = await register("erin");
    const part = 7 * 1024 * 1024;
    const ids: string[] = [];
    // 150,000 bytes short of the quota.
    for (const size of [part, part, part, QUOTA_BYTES - 3 * part - 150_000]) {
      const res = await uploadVideo(erin, fakeMp4(size));
      expect(res.status, res.bytes.toString()).toBe(201);
      ids.push(res.json.id);
    }
    const chunksBefore = await mediaDb.collection("videos.chunks").countDocuments();
    const declared = await uploadVideo(erin, fakeMp4(part));
    expect(declared.status).toBe(413);
    expect(declared.json.error.message).toMatch(/storage quota exceeded: \d+ of 25165824 bytes are used/);
    const chunked = await fetch(`${base}/api/v2/videos?filename=more.mp4`, {
      method: "POST",
      headers: { authorization: `Bearer ${erin.bearer}`, "content-type": "video/mp4" },
      body: new Blob([fakeMp4(part)]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const picture = await uploadPicture(erin, erin.id, Buffer.concat([await image(8, 8), randomBytes(200_000)]));
    expect(picture.status).toBe(413);
    expect(picture.json.error.message).toContain("storage quota exceeded");
    expect(await mediaDb.collection("videos.chunks").countDocuments()).toBe(chunksBefore);
    // Someone else is not affected, and a delete makes room again.
    expect((await uploadVideo(bob, fakeMp4(part))).status).toBe(201);
    expect((await send("DELETE", `/api/v2/videos/${ids[0]}`, { bearer: erin.bearer })).status).toBe(204);
    expect((await uploadVideo(erin, fakeMp4(part))).status).toBe(201);
  });
});
