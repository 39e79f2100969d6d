/**
 * Deleting a user removes every byte they owned: media consumes auth's user_deleted durably, so a
 * deletion published while media was down is caught up on when it is back.
 */
import { startService } from "@trellis/stack/testing";
import { describe, expect, it } from "vitest";
import {
  admin,
  base,
  image,
  platform,
  register,
  storedOf,
  uploadPicture,
  uploadVideo,
  useMediaPlatform,
} from "./support/media.ts";
import { type Account, http, within } from "./support/platform.ts";
import { fakeMp4 } from "./support/video.ts";

useMediaPlatform();

describe("deleting a user removes every byte they owned (durable, also while media is down)", () => {
  const seed = async (who: Account) => {
    await uploadPicture(who, who.id, await image(40, 40));
    await uploadVideo(who, fakeMp4(700_000));
    const stored = await storedOf(who.id);
    expect(stored.pictures.files).toBe(1);
    expect(stored.thumbnails.files).toBe(1);
    expect(stored.videos).toEqual({ files: 1, chunks: 3 });
  };
  const gone = (s: Awaited<ReturnType<typeof storedOf>>) =>
    [s.pictures, s.thumbnails, s.videos].every((c) => c.files === 0 && c.chunks === 0);
  const deleteUser = async (who: Account) => {
    const res = await http(base, "DELETE", `/api/v2/users/${who.id}`, { bearer: admin.bearer });
    expect(res.status, JSON.stringify(res.body)).toBe(204);
  };

  it("removes pictures, thumbnails and videos when auth publishes user_deleted", async () => {
    const carol = await register("carol2");
    await seed(carol);
    await deleteUser(carol);
    const { value } = await within(15_000, () => storedOf(carol.id), gone);
    expect(value).toEqual({
      pictures: { files: 0, chunks: 0 },
      thumbnails: { files: 0, chunks: 0 },
      videos: { files: 0, chunks: 0 },
    });
  });

  it("catches up on a deletion published while media was down", async () => {
    const dave = await register("dave");
    await seed(dave);
    const media = platform.procs.find((p) => p.name === "media");
    expect(media).toBeDefined();
    await media?.stop();
    platform.procs.splice(platform.procs.indexOf(media as never), 1);
    await deleteUser(dave);
    expect(gone(await storedOf(dave.id))).toBe(false);
    platform.procs.push(await startService("media", platform.env("media")));
    const { value } = await within(15_000, () => storedOf(dave.id), gone);
    expect(gone(value)).toBe(true);
  });
});
