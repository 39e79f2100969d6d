/**
 * Pictures through the real gateway, auth and media processes (seed 000's PictureDatabase):
 * types decided from the bytes, WebP thumbnails, conditional GET, 413 and 415, pages, admin uploads,
 * deletes, and the face login that names one of the user's pictures (auth asks media).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { FACE_ENCODING_DIMENSION, mediaCatalog } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import {
  admin,
  alice,
  base,
  bob,
  image,
  mediaDb,
  nc,
  PICTURE_MAX_BYTES,
  register,
  send,
  uploadPicture,
  useMediaPlatform,
} from "./support/media.ts";
import { http } from "./support/platform.ts";
import { sha256 } from "./support/video.ts";

useMediaPlatform();

describe("pictures (seed 000 insert_picture / get_pictures)", () => {
  it("stores a picture: 201 with its metadata, type decided from the bytes", async () => {
    const png = await image(600, 400);
    // Declared as a video and sent to a route that does not care about names: it is a PNG.
    const res = await uploadPicture(alice, alice.id, png, "video/mp4");
    expect(res.status, res.bytes.toString()).toBe(201);
    expect(res.json).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      userId: alice.id,
      type: "image/png",
      size: png.length,
      width: 600,
      height: 400,
      sha256: sha256(png),
      createdAt: expect.any(String),
    });
    expect(res.headers.get("location")).toBe(`/api/v2/pictures/${res.json.id}`);

    const content = await send("GET", `/api/v2/pictures/${res.json.id}/content`, { bearer: alice.bearer });
    expect(content.status).toBe(200);
    expect(content.headers.get("content-type")).toBe("image/png");
    expect(content.headers.get("etag")).toBe(`"${sha256(png)}"`);
    expect(content.headers.get("content-length")).toBe(String(png.length));
    expect(content.headers.get("last-modified")).toBe(new Date(res.json.createdAt).toUTCString());
    expect(sha256(content.bytes)).toBe(sha256(png));

    const again = await send("GET", `/api/v2/pictures/${res.json.id}/content`, {
      bearer: alice.bearer,
      headers: { "if-none-match": `"nope", "${sha256(png)}"` },
    });
    expect(again.status).toBe(304);
    expect(again.bytes.length).toBe(0);
    expect(again.headers.get("etag")).toBe(`"${sha256(png)}"`);

    const meta = await send("GET", `/api/v2/pictures/${res.json.id}`, { bearer: alice.bearer });
    expect(meta.status).toBe(200);
    expect(meta.json).toEqual(res.json);
  });

  it("makes a WebP thumbnail, longest side 256 px, never larger than the original", async () => {
    const big = (await uploadPicture(alice, alice.id, await image(1000, 500, "jpeg"))).json;
    const small = (await uploadPicture(alice, alice.id, await image(100, 80, "gif"))).json;
    expect(big.type).toBe("image/jpeg");
    expect(small.type).toBe("image/gif");
    for (const [picture, width, height] of [
      [big, 256, 128],
      [small, 100, 80],
    ] as const) {
      const thumb = await send("GET", `/api/v2/pictures/${picture.id}/thumbnail`, { bearer: alice.bearer });
      expect(thumb.status).toBe(200);
      expect(thumb.headers.get("content-type")).toBe("image/webp");
      const meta = await sharp(thumb.bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["webp", width, height]);
      const etag = thumb.headers.get("etag") as string;
      expect(etag).toBe(`"${sha256(thumb.bytes)}"`);
      const cached = await send("GET", `/api/v2/pictures/${picture.id}/thumbnail`, {
        bearer: alice.bearer,
        headers: { "if-none-match": etag },
      });
      expect(cached.status).toBe(304);
    }
  });

  it("refuses what is not a JPEG, PNG, WebP, GIF or AVIF with 415, whatever it claims to be", async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const script = Buffer.from("#!/bin/sh\necho pwned\n");
    const tiff = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } })
      .tiff()
      .toBuffer();
    for (const [body, type] of [
      [svg, "image/svg+xml"],
      [script, "image/jpeg"],
      [tiff, "image/tiff"],
      [Buffer.alloc(0), "image/png"],
    ] as const) {
      const res = await uploadPicture(alice, alice.id, body, type);
      expect(res.status, `${type}: ${res.bytes}`).toBe(415);
      expect(res.json.error.code).toBe("unsupported_media_type");
    }
    // PNG magic numbers on something that is no image: the decoder says so, still a 415.
    const broken = Buffer.concat([(await image(4, 4)).subarray(0, 40), randomBytes(200)]);
    expect((await uploadPicture(alice, alice.id, broken)).status).toBe(415);
  });

  it("refuses a picture over PICTURE_MAX_BYTES with 413, declared or not", async () => {
    const big = Buffer.concat([await image(8, 8), randomBytes(PICTURE_MAX_BYTES)]);
    const declared = await uploadPicture(alice, alice.id, big);
    expect(declared.status).toBe(413);
    expect(declared.json.error.code).toBe("payload_too_large");
    // Chunked (no Content-Length): found out while reading.
    const chunked = await fetch(`${base}/api/v2/users/${alice.id}/pictures`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.bearer}`, "content-type": "image/png" },
      body: new Blob([big]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("lists a user's pictures newest first, a page at a time", async () => {
    const carol = await register("carol");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await uploadPicture(carol, carol.id, await image(10 + i, 10))).json.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const page = await send("GET", `/api/v2/users/${carol.id}/pictures${q}`, { bearer: carol.bearer });
      expect(page.status).toBe(200);
      seen.push(...page.json.items.map((p: { id: string }) => p.id));
      cursor = page.json.next;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual([...ids].reverse());
    const bad = await send("GET", `/api/v2/users/${carol.id}/pictures?cursor=garbage`, { bearer: carol.bearer });
    expect(bad.status).toBe(400);
  });

  it("lets an admin upload for a user, and says 404 for a user that does not exist", async () => {
    const res = await uploadPicture(admin, bob.id, await image(20, 20));
    expect(res.status).toBe(201);
    expect(res.json.userId).toBe(bob.id);
    const nobody = await uploadPicture(admin, randomUUID(), await image(20, 20));
    expect(nobody.status).toBe(404);
  });

  it("deletes a picture and its thumbnail: 204, then 404", async () => {
    const id = (await uploadPicture(alice, alice.id, await image(30, 30))).json.id;
    const deleted = await send("DELETE", `/api/v2/pictures/${id}`, { bearer: alice.bearer });
    expect(deleted.status).toBe(204);
    for (const path of [
      `/api/v2/pictures/${id}`,
      `/api/v2/pictures/${id}/content`,
      `/api/v2/pictures/${id}/thumbnail`,
    ]) {
      expect((await send("GET", path, { bearer: alice.bearer })).status, path).toBe(404);
    }
    expect((await send("DELETE", `/api/v2/pictures/${id}`, { bearer: alice.bearer })).status).toBe(404);
    expect(await mediaDb.collection("pictures.chunks").countDocuments({ files_id: id })).toBe(0);
    expect(await mediaDb.collection("thumbnails.chunks").countDocuments({ files_id: id })).toBe(0);
  });

  it("tells auth whether a picture exists and belongs to a user", async () => {
    const id = (await uploadPicture(alice, alice.id, await image(12, 12))).json.id;
    const ask = (pictureId: string, userId: string) =>
      request(nc, mediaCatalog.pictureBelongsTo, { pictureId, userId });
    expect(await ask(id, alice.id)).toEqual({ belongs: true });
    expect(await ask(id, bob.id)).toEqual({ belongs: false });
    expect(await ask(randomUUID(), alice.id)).toEqual({ belongs: false });
    expect(await ask("not-a-uuid", alice.id)).toEqual({ belongs: false });
  });
});

describe("a face login names the picture that proved it (auth asks media)", () => {
  it("accepts one of the user's own pictures, refuses another's or a missing one like a wrong face", async () => {
    const carol = await register("facer");
    const encoding = Array.from({ length: FACE_ENCODING_DIMENSION }, (_, i) => Math.sin(i) / 10);
    const set = await http(base, "PUT", `/api/v2/users/${carol.id}/face-encoding`, {
      bearer: carol.bearer,
      json: { encoding },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(204);
    const own = await uploadPicture(carol, carol.id, await image(64, 64));
    const others = await uploadPicture(bob, bob.id, await image(64, 64));
    expect([own.status, others.status]).toEqual([201, 201]);
    const faceLogin = (pictureId?: string) =>
      http(base, "POST", "/api/v2/auth/face-login", {
        json: { username: carol.username, encoding, ...(pictureId ? { picture_id: pictureId } : {}) },
      });

    const ok = await faceLogin(own.json.id);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.access_token).toEqual(expect.any(String));
    const wrong = await faceLogin(others.json.id);
    const missing = await faceLogin("00000000-0000-4000-8000-000000000000");
    const bad = await faceLogin(own.json.id.replace(/.$/, "x"));
    // The same answer as a face that does not match: nothing to learn about pictures from it.
    const notHerFace = await http(base, "POST", "/api/v2/auth/face-login", {
      json: { username: carol.username, encoding: encoding.map((v) => v + 0.5) },
    });
    expect(notHerFace.status).toBe(401);
    for (const r of [wrong, missing, bad]) {
      expect(r.status).toBe(401);
      expect(r.body).toEqual(notHerFace.body);
    }
    const log = await http(base, "GET", `/api/v2/users/${carol.id}/logins`, { bearer: carol.bearer });
    expect(
      log.body.items
        .slice(0, 5)
        .map((i: { success: boolean; proofResourceId: string | null }) => [i.success, i.proofResourceId]),
    ).toEqual([
      [false, null],
      [false, own.json.id.replace(/.$/, "x")],
      [false, "00000000-0000-4000-8000-000000000000"],
      [false, others.json.id],
      [true, own.json.id],
    ]);
  });
});
