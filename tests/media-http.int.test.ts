/**
 * Media through the real gateway, auth and media processes (seed 000's PictureDatabase and
 * VideoDatabase): pictures (types decided from the bytes, 413, 415, thumbnails, conditional GET,
 * pages), videos (streamed upload, ffprobe, Range / If-Range / If-None-Match / HEAD, delete),
 * the permission table of every media route, events, the user-deleted cascade (also while media
 * was down) and an upload cut off mid-body (no file, no chunk left).
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { connect as netConnect } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  FACE_ENCODING_DIMENSION,
  httpRoutes,
  MEDIA_EVENTS_STREAM,
  mediaCatalog,
  mediaEvents,
} from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { type Db, MongoClient } from "mongodb";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, monitorStraightInAuth, type Platform, startPlatform, within } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const PICTURE_MAX_BYTES = 512 * 1024;
const VIDEO_MAX_BYTES = 8 * 1024 * 1024;
/** Per user: no other test's user comes near it. */
const QUOTA_BYTES = 24 * 1024 * 1024;

interface Account {
  id: string;
  username: string;
  password: string;
  bearer: string;
  v1Token: string;
}

const stack = useFileStack();
let platform: Platform;
let base: string;
let nc: NatsConnection;
let mongo: MongoClient;
let mediaDb: Db;
let admin: Account;
let alice: Account;
let bob: Account;
/** A monitor's v1 token (monitors have no access to media). */
let monitorToken: string;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Reply {
  status: number;
  headers: Headers;
  bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are asserted field by field
  json: any;
}

/** One HTTP request with a raw body (or none), answered as bytes and, when it is JSON, parsed. */
async function send(
  method: string,
  path: string,
  options: { bearer?: string | undefined; body?: Uint8Array | FormData; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  if ((res.headers.get("content-type") ?? "").includes("json") && bytes.length > 0) {
    json = JSON.parse(bytes.toString("utf8"));
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

async function register(prefix: string): Promise<Account> {
  const username = `${prefix}-${platform.suffix}`;
  const password = `Pw-${randomBytes(6).toString("hex")}`;
  const res = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, username, password, ...(await login(username, password)) };
}

async function login(username: string, password: string): Promise<{ bearer: string; v1Token: string }> {
  const [v2, v1] = await Promise.all([
    http(base, "POST", "/api/v2/auth/token", { form: { grant_type: "password", username, password } }),
    http(base, "POST", "/api/v1/login/user", { json: { username, password } }),
  ]);
  expect(v2.status, JSON.stringify(v2.body)).toBe(200);
  expect(v1.status, JSON.stringify(v1.body)).toBe(200);
  return { bearer: v2.body.access_token, v1Token: v1.body.data.token };
}

const image = (width: number, height: number, format: "png" | "jpeg" | "gif" | "webp" = "png") =>
  sharp({ create: { width, height, channels: 3, background: { r: 20, g: 140, b: 60 } } })
    .toFormat(format)
    .toBuffer();

/** Bytes that sniff as MP4 (an `ftyp` box) followed by random data: enough for type and Range tests. */
const fakeMp4 = (size: number) => {
  const b = randomBytes(size);
  Buffer.concat([
    Buffer.from([0, 0, 0, 0x18]),
    Buffer.from("ftypisom"),
    Buffer.from([0, 0, 2, 0]),
    Buffer.from("isomiso2"),
  ]).copy(b);
  return b;
};

const hasFfmpeg = (() => {
  try {
    execFileSync("ffmpeg", ["-version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** A real 2-second 320x240 H.264 MP4, made by ffmpeg. */
const realMp4 = (): Buffer => testVideo({ seconds: 2 });

const uploadPicture = (who: Account | undefined, userId: string, body: Uint8Array, type = "image/png") =>
  send("POST", `/api/v2/users/${userId}/pictures`, { bearer: who?.bearer, body, headers: { "content-type": type } });

const uploadVideo = (who: Account | undefined, body: Uint8Array, query = "filename=clip.mp4", type = "video/mp4") =>
  send("POST", `/api/v2/videos?${query}`, { bearer: who?.bearer, body, headers: { "content-type": type } });

/** Files and chunks of a user's pictures, thumbnails and videos, as stored. */
async function storedOf(userId: string) {
  const count = async (bucket: string, owner: string) => {
    const ids = (
      await mediaDb
        .collection(`${bucket}.files`)
        .find({ [`metadata.${owner}`]: userId })
        .toArray()
    ).map((d) => d._id);
    let chunks = 0;
    for (const id of ids) chunks += await mediaDb.collection(`${bucket}.chunks`).countDocuments({ files_id: id });
    return { files: ids.length, chunks };
  };
  return {
    pictures: await count("pictures", "userId"),
    thumbnails: await count("thumbnails", "userId"),
    videos: await count("videos", "ownerId"),
  };
}

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth", "media"],
    extraEnv: {
      PICTURE_MAX_BYTES: String(PICTURE_MAX_BYTES),
      VIDEO_MAX_BYTES: String(VIDEO_MAX_BYTES),
      MEDIA_QUOTA_BYTES: String(QUOTA_BYTES),
    },
  });
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  mongo = await new MongoClient(stack.mongoUrl).connect();
  mediaDb = mongo.db(platform.dbName("media"));

  const adminTokens = await login(ADMIN.username, ADMIN.password);
  const me = await http(base, "GET", "/api/v2/me", { bearer: adminTokens.bearer });
  admin = { id: me.body.userId, ...ADMIN, ...adminTokens };
  [alice, bob] = await Promise.all([register("alice"), register("bob")]);

  // A monitor of alice's, with credentials made straight in auth (telemetry is not running).
  monitorToken = (await monitorStraightInAuth(nc, base, admin.id, alice.id)).token;
});

afterAll(async () => {
  await platform?.stop();
  await nc?.close();
  await mediaDb?.dropDatabase().catch(() => {});
  await mongo?.close();
});

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

describe("videos (seed 000 insert_video / get_video_stream / get_video_id_of_user / delete_video)", () => {
  const SIZE = 3 * 1024 * 1024 + 12_345;
  let bytes: Buffer;
  let video: { id: string; sha256: string; size: number; createdAt: string };
  const content = (range: string | undefined, extra: Record<string, string> = {}, method = "GET") =>
    send(method, `/api/v2/videos/${video.id}/content`, {
      bearer: alice.bearer,
      headers: { ...(range ? { range } : {}), ...extra },
    });

  beforeAll(async () => {
    bytes = fakeMp4(SIZE);
    const res = await uploadVideo(alice, bytes, "filename=lesson%201.mp4", "application/octet-stream");
    expect(res.status, res.bytes.toString()).toBe(201);
    video = res.json;
  });

  it("stores a streamed upload with its sha256, type from the bytes, and the seed's owner and filename", () => {
    expect(video).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ownerId: alice.id,
      filename: "lesson 1.mp4",
      type: "video/mp4",
      size: SIZE,
      sha256: sha256(bytes),
      durationMs: null,
      width: null,
      height: null,
      codec: null,
      createdAt: expect.any(String),
      hasTranscript: false,
    });
  });

  it.skipIf(!hasFfmpeg)("reads duration, dimensions and codec with ffprobe", async () => {
    const clip = realMp4();
    const res = await send("POST", "/api/v2/videos", {
      bearer: alice.bearer,
      body: clip,
      headers: { "content-type": "video/mp4", "x-filename": encodeURIComponent("clip é.mp4") },
    });
    expect(res.status, res.bytes.toString()).toBe(201);
    expect(res.json).toMatchObject({
      filename: "clip é.mp4",
      width: 320,
      height: 240,
      codec: "h264",
      sha256: sha256(clip),
    });
    expect(Math.abs(res.json.durationMs - 2_000)).toBeLessThanOrEqual(100);
  });

  it("downloads the whole video with its metadata headers", async () => {
    const res = await content(undefined);
    expect(res.status).toBe(200);
    expect(sha256(res.bytes)).toBe(video.sha256);
    expect(res.headers.get("content-length")).toBe(String(SIZE));
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toBe(`"${video.sha256}"`);
    expect(res.headers.get("last-modified")).toBe(new Date(video.createdAt).toUTCString());
    expect(res.headers.get("x-owner-id")).toBe(alice.id);
    expect(decodeURIComponent(res.headers.get("x-filename") as string)).toBe("lesson 1.mp4");
  });

  it("answers single ranges with 206, exact Content-Range and Content-Length, and the right bytes", async () => {
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=0-1", 0, 1],
      [`bytes=${SIZE - 1}-${SIZE - 1}`, SIZE - 1, SIZE - 1],
      ["bytes=1000000-2100000", 1_000_000, 2_100_000],
      ["bytes=-500", SIZE - 500, SIZE - 1],
      [`bytes=${SIZE - 300_000}-`, SIZE - 300_000, SIZE - 1],
      [`bytes=261119-261121`, 261_119, 261_121], // across the first chunk boundary (255 KiB)
      [`bytes=100-${SIZE + 5_000}`, 100, SIZE - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await content(range);
      expect(res.status, range).toBe(206);
      expect(res.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(res.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(sha256(res.bytes), range).toBe(sha256(bytes.subarray(start, end + 1)));
    }
  });

  it("answers an unsatisfiable range with 416 and bytes */size", async () => {
    for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 10}-${SIZE + 20}`]) {
      const res = await content(range);
      expect(res.status, range).toBe(416);
      expect(res.headers.get("content-range")).toBe(`bytes */${SIZE}`);
    }
  });

  it("answers several ranges, a stale If-Range and a malformed Range with the whole video", async () => {
    for (const [range, extra] of [
      ["bytes=0-9,2000000-2000009", {}],
      ["bytes=0-9", { "if-range": '"stale"' }],
      ["bytes=nonsense", {}],
    ] as const) {
      const res = await content(range, extra);
      expect(res.status, range).toBe(200);
      expect(res.headers.get("content-range")).toBeNull();
      expect(sha256(res.bytes)).toBe(video.sha256);
    }
    const current = await content("bytes=5-9", { "if-range": `"${video.sha256}"` });
    expect(current.status).toBe(206);
    expect(current.bytes).toEqual(bytes.subarray(5, 10));
  });

  it("answers If-None-Match with 304 and HEAD without bytes", async () => {
    const cached = await content("bytes=0-9", { "if-none-match": `"${video.sha256}"` });
    expect(cached.status).toBe(304);
    expect(cached.bytes.length).toBe(0);
    const head = await content(undefined, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(SIZE));
    expect(head.headers.get("accept-ranges")).toBe("bytes");
    const headRange = await content("bytes=-100", {}, "HEAD");
    expect(headRange.status).toBe(206);
    expect(headRange.headers.get("content-range")).toBe(`bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`);
    expect((await content(`bytes=${SIZE}-`, {}, "HEAD")).status).toBe(416);
  });

  it("gives the metadata (seed: owner, filename, transcript) and lists a user's videos", async () => {
    const meta = await send("GET", `/api/v2/videos/${video.id}`, { bearer: alice.bearer });
    expect(meta.status).toBe(200);
    expect(meta.json).toEqual({ ...video, transcript: null });
    const mine = await send("GET", "/api/v2/videos", { bearer: alice.bearer });
    expect(mine.status).toBe(200);
    expect(mine.json.items.map((v: { id: string }) => v.id)).toContain(video.id);
    const asAdmin = await send("GET", `/api/v2/videos?user_id=${alice.id}&limit=1`, { bearer: admin.bearer });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.json.items).toHaveLength(1);
    const bobs = await send("GET", "/api/v2/videos", { bearer: bob.bearer });
    expect(bobs.json.items.map((v: { id: string }) => v.id)).not.toContain(video.id);
  });

  it("refuses pictures, text, an empty body and a missing filename", async () => {
    const png = await uploadVideo(alice, await image(10, 10), "filename=movie.mp4");
    expect(png.status).toBe(415);
    expect(png.json.error.message).toContain("image/png");
    expect((await uploadVideo(alice, Buffer.from("not a video"))).status).toBe(415);
    expect((await uploadVideo(alice, Buffer.alloc(0))).status).toBe(415);
    const unnamed = await uploadVideo(alice, fakeMp4(10_000), "");
    expect(unnamed.status).toBe(400);
    expect(unnamed.json.error.message).toContain("filename");
    const badName = await uploadVideo(alice, fakeMp4(10_000), "filename=a%2Fb.mp4");
    expect(badName.status).toBe(400);
  });

  it("refuses a video over VIDEO_MAX_BYTES with 413 and keeps nothing of it", async () => {
    const before = await mediaDb.collection("videos.chunks").countDocuments();
    const res = await uploadVideo(alice, fakeMp4(VIDEO_MAX_BYTES + 1));
    expect(res.status).toBe(413);
    expect(await mediaDb.collection("videos.chunks").countDocuments()).toBe(before);
  });

  it("a refusal reaches a client still sending its body: the rest is read and dropped for a while (lingering close)", async () => {
    // Refused on Content-Length before the body is read. A client (fetch, a browser) goes on writing
    // its body while the answer comes back; had the server closed the socket with unread bytes,
    // the kernel would reset it under the writer and the client would see a network error, maybe
    // before it read the 413. So the server keeps reading (and dropping) what comes for a while.
    const url = new URL(base);
    const socket = netConnect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let answer = "";
    socket.on("data", (d: Buffer) => {
      answer += d.toString("latin1");
    });
    const errors: string[] = [];
    socket.on("error", (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    const path = "/api/v2/videos?filename=big.mp4";
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${alice.bearer}\r\n` +
        `Content-Type: video/mp4\r\nContent-Length: ${4 * VIDEO_MAX_BYTES}\r\n\r\n`,
    );
    const mib = Buffer.alloc(1024 * 1024, 7);
    // Sending as a client does until the answer comes (a busy machine may take a moment).
    const quarter = mib.subarray(0, 256 * 1024);
    for (let sent = 0; !answer.includes("\r\n\r\n") && sent < 8 * 1024 * 1024; sent += quarter.length) {
      await new Promise<void>((resolve, reject) => socket.write(quarter, (err) => (err ? reject(err) : resolve())));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await within(
      15_000,
      async () => answer,
      (a) => a.includes("\r\n\r\n"),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain("connection: close");
    // The answer is in; the client is still sending: 4 MiB more over 400 ms go through without a reset.
    const answeredAt = Date.now();
    for (let i = 0; i < 4; i++) {
      await new Promise<void>((resolve, reject) => socket.write(mib, (err) => (err ? reject(err) : resolve())));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(errors).toEqual([]);
    expect(socket.destroyed).toBe(false);
    // ... and the server closes it after the linger (2 s), not never.
    const closedAt = await closed;
    expect(closedAt - answeredAt).toBeLessThan(6_000);
  });

  it("lets an admin upload for a user (user_id), 404 for a user that does not exist", async () => {
    const res = await uploadVideo(admin, fakeMp4(50_000), `filename=x.mp4&user_id=${bob.id}`);
    expect(res.status).toBe(201);
    expect(res.json.ownerId).toBe(bob.id);
    expect((await uploadVideo(admin, fakeMp4(50_000), `filename=x.mp4&user_id=${randomUUID()}`)).status).toBe(404);
  });

  it("takes a multipart form (seed 000 insert_video): transcript and owner fields, then the file", async () => {
    const clip = fakeMp4(400_000);
    const form = new FormData();
    form.append("transcript", "Hello and welcome.");
    form.append("user_id", bob.id);
    form.append("file", new Blob([clip]), "form clip.mp4");
    const res = await send("POST", "/api/v2/videos", { bearer: admin.bearer, body: form });
    expect(res.status, res.bytes.toString()).toBe(201);
    expect(res.json).toMatchObject({
      ownerId: bob.id,
      filename: "form clip.mp4",
      hasTranscript: true,
      sha256: sha256(clip),
    });
    const meta = await send("GET", `/api/v2/videos/${res.json.id}`, { bearer: bob.bearer });
    expect(meta.json.transcript).toBe("Hello and welcome.");

    // The transcript as a small file part, and the owner by default.
    const withFile = new FormData();
    withFile.append("transcript", new Blob(["WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n"]), "subs.vtt");
    withFile.append("file", new Blob([clip]), "b.mp4");
    const second = await send("POST", "/api/v2/videos", { bearer: alice.bearer, body: withFile });
    expect(second.status, second.bytes.toString()).toBe(201);
    expect(second.json).toMatchObject({ ownerId: alice.id, filename: "b.mp4", hasTranscript: true });
    const got = await send("GET", `/api/v2/videos/${second.json.id}`, { bearer: alice.bearer });
    expect(got.json.transcript).toContain("00:00.000 --> 00:01.000");
  });

  it("refuses user_id or filename after the file, unknown, repeated or oversize parts, no file; stores nothing", async () => {
    const files = mediaDb.collection("videos.files");
    const chunks = mediaDb.collection("videos.chunks");
    const before = { files: await files.countDocuments(), chunks: await chunks.countDocuments() };
    const formOf = (...parts: [string, string | Blob, string?][]) => {
      const form = new FormData();
      for (const [name, value, filename] of parts) {
        if (typeof value === "string") form.append(name, value);
        else form.append(name, value, filename);
      }
      return form;
    };
    const file = (): [string, Blob, string] => ["file", new Blob([fakeMp4(300_000)]), "late.mp4"];
    for (const [form, status, message] of [
      // They decide where and how the file is stored: they cannot follow it.
      [formOf(file(), ["user_id", bob.id]), 400, "the user_id part must come before the file part"],
      [formOf(file(), ["filename", "other.mp4"]), 400, "the filename part must come before the file part"],
      [formOf(file(), ["comment", "hi"]), 400, "unexpected form field comment"],
      [formOf(["transcript", "one"], file(), ["transcript", "two"]), 400, "more than one transcript part"],
      [formOf(file(), file()), 400, "more than one file part"],
      [formOf(file(), ["transcript", ""]), 400, "transcript"],
      [formOf(file(), ["transcript", new Blob(["x".repeat(1_000_001)]), "huge.txt"]), 413, "transcript is longer"],
      [formOf(["transcript", "no video"]), 400, "no file part"],
    ] as const) {
      const res = await send("POST", "/api/v2/videos", { bearer: alice.bearer, body: form });
      expect(res.status, res.bytes.toString()).toBe(status);
      expect(res.json.error.message).toContain(message);
    }
    // The gateway answers as it aborts the upload; media removes what it wrote right after.
    const { value: after } = await within(
      10_000,
      async () => ({ files: await files.countDocuments(), chunks: await chunks.countDocuments() }),
      (v) => v.chunks === before.chunks,
    );
    expect(after).toEqual(before);
  });

  it("deletes a video: 204, then 404 everywhere, chunks gone; events published", async () => {
    const js = jetstream(nc);
    const start = (await (await js.streams.get(MEDIA_EVENTS_STREAM)).info()).state.last_seq;
    const doomed = (await uploadVideo(alice, fakeMp4(600_000))).json;
    expect((await send("DELETE", `/api/v2/videos/${doomed.id}`, { bearer: alice.bearer })).status).toBe(204);
    for (const path of [`/api/v2/videos/${doomed.id}`, `/api/v2/videos/${doomed.id}/content`]) {
      expect((await send("GET", path, { bearer: alice.bearer })).status).toBe(404);
    }
    expect((await send("DELETE", `/api/v2/videos/${doomed.id}`, { bearer: alice.bearer })).status).toBe(404);
    expect(await mediaDb.collection("videos.chunks").countDocuments({ files_id: doomed.id })).toBe(0);

    const stream = await js.streams.get(MEDIA_EVENTS_STREAM);
    const events: { subject: string; data: { video?: { id: string }; videoId?: string } }[] = [];
    const last = (await stream.info()).state.last_seq;
    for (let seq = start + 1; seq <= last; seq++) {
      const m = await stream.getMessage({ seq });
      if (m) events.push({ subject: m.subject, data: m.json() });
    }
    expect(
      events.filter((e) => e.subject === mediaEvents.videoUploaded.subject).map((e) => e.data.video?.id),
    ).toContain(doomed.id);
    expect(events.filter((e) => e.subject === mediaEvents.videoDeleted.subject).map((e) => e.data.videoId)).toContain(
      doomed.id,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Forms as browsers (FormData), curl -F and SDKs send them: the file first, UTF-8 filenames.
// ---------------------------------------------------------------------------------------------

/** A `multipart/form-data` body as `curl -F` writes it: CRLF lines, filenames as raw UTF-8 bytes. */
function curlForm(parts: { name: string; filename?: string; type?: string; body: Uint8Array | string }[]) {
  const boundary = `------------------------${randomBytes(8).toString("hex")}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ""}`;
    const type = part.type !== undefined ? `Content-Type: ${part.type}\r\n` : "";
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`, "utf8"));
    chunks.push(Buffer.from(part.body));
    chunks.push(Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

describe("forms as browsers send them (multipart/form-data: any order, UTF-8 filenames)", () => {
  const NAME = "ünïcødé 名前.mp4";
  /** Keeps the store as small as the later tests expect (they count every chunk). */
  const dropVideo = async (id: string) =>
    expect((await send("DELETE", `/api/v2/videos/${id}`, { bearer: alice.bearer })).status).toBe(204);
  const vtt = "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nBonjour à tous\n";

  it("takes the transcript before or after the file (Node's FormData), as text or a file, and the 201 has it", async () => {
    for (const order of ["file first", "transcript first"] as const) {
      for (const transcript of [vtt, new Blob([vtt], { type: "text/vtt" })]) {
        const clip = fakeMp4(120_000);
        const form = new FormData();
        const addFile = () => form.append("file", new Blob([clip], { type: "video/mp4" }), NAME);
        const addTranscript = () =>
          typeof transcript === "string"
            ? form.append("transcript", transcript)
            : form.append("transcript", transcript, "sous-titres é.vtt");
        if (order === "file first") {
          addFile();
          addTranscript();
        } else {
          addTranscript();
          addFile();
        }
        const what = `${order}, transcript as ${typeof transcript === "string" ? "text" : "a file"}`;
        const res = await send("POST", "/api/v2/videos", { bearer: alice.bearer, body: form });
        expect(res.status, `${what}: ${res.bytes}`).toBe(201);
        expect(res.json, what).toMatchObject({
          ownerId: alice.id,
          filename: NAME,
          type: "video/mp4",
          size: clip.length,
          sha256: sha256(clip),
          hasTranscript: true,
        });
        expect(res.headers.get("location")).toBe(`/api/v2/videos/${res.json.id}`);
        const got = await send("GET", `/api/v2/videos/${res.json.id}/transcript`, { bearer: alice.bearer });
        expect(got.status, what).toBe(200);
        // FormData sends a text field's line breaks as CRLF (HTML's rule); a file part as it is.
        expect(got.json, what).toMatchObject({
          format: "vtt",
          text: typeof transcript === "string" ? vtt.replaceAll("\n", "\r\n") : vtt,
          segments: [{ start: 500, end: 1_500, text: "Bonjour à tous" }],
        });
        const head = await send("HEAD", `/api/v2/videos/${res.json.id}/content`, { bearer: alice.bearer });
        expect(decodeURIComponent(head.headers.get("x-filename") ?? ""), what).toBe(NAME);
        await dropVideo(res.json.id);
      }
    }
  });

  it("takes a curl -F body (file first, UTF-8 filename bytes) and a plain-text transcript after it", async () => {
    const clip = fakeMp4(180_000);
    const form = curlForm([
      { name: "file", filename: "leçon 名前.mp4", type: "application/octet-stream", body: clip },
      { name: "transcript", filename: "notes.txt", type: "text/plain", body: "Just the words, naïvely." },
    ]);
    const res = await send("POST", "/api/v2/videos", {
      bearer: alice.bearer,
      body: form.body,
      headers: { "content-type": form.type },
    });
    expect(res.status, res.bytes.toString()).toBe(201);
    expect(res.json).toMatchObject({ filename: "leçon 名前.mp4", sha256: sha256(clip), hasTranscript: true });
    const meta = await send("GET", `/api/v2/videos/${res.json.id}`, { bearer: alice.bearer });
    expect(meta.json.transcript).toBe("Just the words, naïvely.");
    expect(meta.json.filename).toBe("leçon 名前.mp4");
    await dropVideo(res.json.id);

    // A quote in a name: FormData (like a browser) sends it as %22.
    const quoted = new FormData();
    quoted.append("file", new Blob([clip]), 'say "hi" 😀.mp4');
    const withQuote = await send("POST", "/api/v2/videos", { bearer: alice.bearer, body: quoted });
    expect(withQuote.status, withQuote.bytes.toString()).toBe(201);
    expect(withQuote.json.filename).toBe('say "hi" 😀.mp4');
    await dropVideo(withQuote.json.id);
  });

  it("streams a form's file to media as it comes, a transcript after it held until the end", async () => {
    const chunks = mediaDb.collection("videos.chunks");
    const before = await chunks.countDocuments();
    const clip = fakeMp4(1536 * 1024);
    const boundary = "----trellis-stream-test";
    const req = httpRequest(new URL(`${base}/api/v2/videos`), {
      method: "POST",
      headers: {
        authorization: `Bearer ${alice.bearer}`,
        "content-type": `multipart/form-data; boundary=${boundary}`,
        "transfer-encoding": "chunked",
      },
    });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on("response", (res) => {
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
    });
    req.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${NAME}"\r\nContent-Type: video/mp4\r\n\r\n`,
    );
    req.write(clip.subarray(0, 1280 * 1024));
    // The body is not finished, and media has stored chunks of the file already: nothing waits for
    // the whole form (the gateway would have to hold the file to read a part after it).
    const { value: during } = await within(
      10_000,
      () => chunks.countDocuments(),
      (n) => n >= before + 4,
    );
    expect(during).toBeGreaterThanOrEqual(before + 4);
    req.write(clip.subarray(1280 * 1024));
    req.end(
      `\r\n--${boundary}\r\nContent-Disposition: form-data; name="transcript"\r\n\r\n${vtt}\r\n--${boundary}--\r\n`,
    );
    const res = await answer;
    expect(res.status, res.body).toBe(201);
    const video = JSON.parse(res.body);
    expect(video).toMatchObject({ filename: NAME, size: clip.length, sha256: sha256(clip), hasTranscript: true });
    const got = await send("GET", `/api/v2/videos/${video.id}/transcript`, { bearer: alice.bearer });
    expect(got.json.segments).toEqual([{ start: 500, end: 1_500, text: "Bonjour à tous" }]);
    await dropVideo(video.id);
  });

  it("is all or nothing: a transcript after the file that is refused removes the video (400 naming the line)", async () => {
    const files = mediaDb.collection("videos.files");
    const chunks = mediaDb.collection("videos.chunks");
    const before = { files: await files.countDocuments(), chunks: await chunks.countDocuments() };
    const listed = async () =>
      (await send("GET", "/api/v2/videos?limit=500", { bearer: alice.bearer })).json.items.map(
        (v: { id: string }) => v.id,
      );
    const listedBefore = await listed();
    const form = new FormData();
    form.append("file", new Blob([fakeMp4(600_000)]), "backwards.mp4");
    form.append("transcript", new Blob(["WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nBackwards\n"]), "bad.vtt");
    const res = await send("POST", "/api/v2/videos", { bearer: alice.bearer, body: form });
    expect(res.status, res.bytes.toString()).toBe(400);
    expect(res.json.error.code).toBe("invalid_argument");
    expect(res.json.error.message).toMatch(/^the transcript was refused, so the video was not kept: /);
    expect(res.json.error.message).toMatch(/line 3: End timestamp is not greater/);
    expect({ files: await files.countDocuments(), chunks: await chunks.countDocuments() }).toEqual(before);
    expect(await listed()).toEqual(listedBefore);
  });

  it("refuses a form cut short (no closing boundary) with a 400 and nothing stored", async () => {
    const files = mediaDb.collection("videos.files");
    const before = await files.countDocuments();
    // The closing boundary never comes: busboy says the form ended early.
    const cut = curlForm([{ name: "file", filename: "cut.mp4", body: fakeMp4(100_000) }]);
    const res = await send("POST", "/api/v2/videos", {
      bearer: alice.bearer,
      body: cut.body.subarray(0, cut.body.length - 40),
      headers: { "content-type": cut.type },
    });
    expect(res.status, res.bytes.toString()).toBe(400);
    expect(res.json.error.message).toContain("malformed multipart body");
    expect(await files.countDocuments()).toBe(before);
  });

  it("takes a picture as a form (FormData, curl -F): the file part's bytes, type decided from them", async () => {
    const png = await image(300, 200);
    const form = new FormData();
    form.append("file", new Blob([png], { type: "image/png" }), "phötö 写真.png");
    const res = await send("POST", `/api/v2/users/${alice.id}/pictures`, { bearer: alice.bearer, body: form });
    expect(res.status, res.bytes.toString()).toBe(201);
    expect(res.json).toMatchObject({
      userId: alice.id,
      type: "image/png",
      size: png.length,
      width: 300,
      height: 200,
      sha256: sha256(png),
    });
    const content = await send("GET", `/api/v2/pictures/${res.json.id}/content`, { bearer: alice.bearer });
    expect(sha256(content.bytes)).toBe(sha256(png));

    // curl -F file=@pic.jpg (declared as octet-stream: the bytes decide), for another user by an admin.
    const jpeg = await image(40, 30, "jpeg");
    const curl = curlForm([{ name: "file", filename: "pic.jpg", type: "application/octet-stream", body: jpeg }]);
    const byAdmin = await send("POST", `/api/v2/users/${bob.id}/pictures`, {
      bearer: admin.bearer,
      body: curl.body,
      headers: { "content-type": curl.type },
    });
    expect(byAdmin.status, byAdmin.bytes.toString()).toBe(201);
    expect(byAdmin.json).toMatchObject({ userId: bob.id, type: "image/jpeg", sha256: sha256(jpeg) });
  });

  it("refuses a picture form with another part, without a file, of no image, or too large", async () => {
    const pictures = mediaDb.collection("pictures.files");
    const before = await pictures.countDocuments();
    const post = (form: FormData) =>
      send("POST", `/api/v2/users/${alice.id}/pictures`, { bearer: alice.bearer, body: form });
    const png = await image(20, 20);
    const extra = new FormData();
    extra.append("file", new Blob([png]), "a.png");
    extra.append("caption", "hello");
    const withExtra = await post(extra);
    expect(withExtra.status).toBe(400);
    expect(withExtra.json.error.message).toContain("unexpected form field caption");
    const none = new FormData();
    none.append("caption", "no picture");
    expect((await post(none)).status).toBe(400);
    const svg = new FormData();
    svg.append("file", new Blob(['<svg xmlns="http://www.w3.org/2000/svg"/>'], { type: "image/svg+xml" }), "x.svg");
    const notImage = await post(svg);
    expect(notImage.status).toBe(415);
    // The part's bytes were sniffed, not the form around them.
    expect(notImage.json.error.message).toContain("not a JPEG, PNG, WebP, GIF or AVIF image");
    // Refused mid-file (a form has no size of its own): the client still sending the rest of it gets
    // the 413, not a reset (the form is no longer read, the lingering close drains the body).
    const big = new FormData();
    big.append("file", new Blob([png, randomBytes(6 * PICTURE_MAX_BYTES)]), "big.png");
    big.append("caption", "after the file");
    const tooBig = await post(big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.json.error.code).toBe("payload_too_large");
    expect(await pictures.countDocuments()).toBe(before);
  });

  it("every raw-body route that takes no form answers one with a 415 that says so", async () => {
    const rawOnly = httpRoutes.filter((r) => r.rawBody && !r.rawBody.multipart);
    expect(rawOnly.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        "put /api/v2/videos/:id/transcript",
        "patch /api/v2/uploads/:id",
        "post /api/v2/monitors/bulk",
      ]),
    );
    const id = (await uploadVideo(alice, fakeMp4(50_000), "filename=formless.mp4")).json.id;
    for (const route of rawOnly) {
      const path = route.path.replace(/:[A-Za-z]+/g, id);
      const form = new FormData();
      form.append("file", new Blob(["WEBVTT\n"]), "t.vtt");
      const res = await send(route.method.toUpperCase(), path, {
        bearer: admin.bearer,
        body: form,
        headers: { "tus-resumable": "1.0.0", "upload-offset": "0" },
      });
      expect(res.status, `${route.method} ${path}: ${res.bytes}`).toBe(415);
      expect(res.json.error.code).toBe("unsupported_media_type");
      expect(res.json.error.message).toContain("does not accept multipart/form-data; send the raw bytes");
    }
    // Nothing was applied: the video still has no transcript.
    expect((await send("GET", `/api/v2/videos/${id}`, { bearer: alice.bearer })).json.hasTranscript).toBe(false);
    await dropVideo(id);
  });
});

// ---------------------------------------------------------------------------------------------
// Permission table: owner and admins; another user gets 404 for an item id (as for an id that
// does not exist: ids cannot be probed) and 403 for another user's collection; monitors 403;
// no token 401.
// ---------------------------------------------------------------------------------------------

type Who = "none" | "owner" | "other" | "admin" | "monitor";
const WHO: Who[] = ["none", "owner", "other", "admin", "monitor"];

describe("permissions of every media route", () => {
  let picture: string;
  let video: string;
  const bearerOf = (who: Who): string | undefined =>
    who === "none" ? undefined : who === "monitor" ? monitorToken : { owner: alice, other: bob, admin }[who].bearer;

  beforeAll(async () => {
    picture = (await uploadPicture(alice, alice.id, await image(16, 16))).json.id;
    video = (await uploadVideo(alice, fakeMp4(300_000))).json.id;
  });

  const item = { none: 401, owner: 200, other: 404, admin: 200, monitor: 403 } as const;
  const collection = { none: 401, owner: 200, other: 403, admin: 200, monitor: 403 } as const;
  const created = { ...collection, owner: 201, admin: 201 } as const;
  const deleted = { ...item, owner: 204, admin: 204 } as const;
  const rows: { name: string; call: (bearer: string | undefined) => Promise<Reply>; expect: Record<Who, number> }[] = [
    {
      name: "POST /api/v2/users/{id}/pictures",
      call: async (b) => send("POST", `/api/v2/users/${alice.id}/pictures`, { bearer: b, body: await image(9, 9) }),
      expect: created,
    },
    {
      name: "GET /api/v2/users/{id}/pictures",
      call: (b) => send("GET", `/api/v2/users/${alice.id}/pictures`, { bearer: b }),
      expect: collection,
    },
    {
      name: "GET /api/v2/pictures/{id}",
      call: (b) => send("GET", `/api/v2/pictures/${picture}`, { bearer: b }),
      expect: item,
    },
    {
      name: "GET /api/v2/pictures/{id}/content",
      call: (b) => send("GET", `/api/v2/pictures/${picture}/content`, { bearer: b }),
      expect: item,
    },
    {
      name: "GET /api/v2/pictures/{id}/thumbnail",
      call: (b) => send("GET", `/api/v2/pictures/${picture}/thumbnail`, { bearer: b }),
      expect: item,
    },
    {
      name: "DELETE /api/v2/pictures/{id}",
      call: async (b) => {
        const fresh = (await uploadPicture(alice, alice.id, await image(9, 9))).json.id;
        return send("DELETE", `/api/v2/pictures/${fresh}`, { bearer: b });
      },
      expect: deleted,
    },
    {
      name: "POST /api/v2/videos?user_id",
      call: (b) =>
        send("POST", `/api/v2/videos?filename=t.mp4&user_id=${alice.id}`, { bearer: b, body: fakeMp4(40_000) }),
      expect: created,
    },
    {
      name: "GET /api/v2/videos?user_id",
      call: (b) => send("GET", `/api/v2/videos?user_id=${alice.id}`, { bearer: b }),
      expect: collection,
    },
    {
      name: "GET /api/v2/videos/{id}",
      call: (b) => send("GET", `/api/v2/videos/${video}`, { bearer: b }),
      expect: item,
    },
    {
      name: "GET /api/v2/videos/{id}/content",
      call: (b) => send("GET", `/api/v2/videos/${video}/content`, { bearer: b }),
      expect: item,
    },
    {
      name: "HEAD /api/v2/videos/{id}/content",
      call: (b) => send("HEAD", `/api/v2/videos/${video}/content`, { bearer: b }),
      expect: item,
    },
    {
      name: "PUT /api/v2/videos/{id}/transcript",
      call: (b) =>
        send("PUT", `/api/v2/videos/${video}/transcript`, {
          bearer: b,
          body: Buffer.from("Words."),
          headers: { "content-type": "text/plain" },
        }),
      expect: item,
    },
    {
      name: "GET /api/v2/videos/{id}/transcript",
      call: async (b) => {
        await send("PUT", `/api/v2/videos/${video}/transcript`, {
          bearer: alice.bearer,
          body: Buffer.from("Words."),
          headers: { "content-type": "text/plain" },
        });
        return send("GET", `/api/v2/videos/${video}/transcript`, { bearer: b });
      },
      expect: item,
    },
    {
      name: "DELETE /api/v2/videos/{id}",
      call: async (b) => {
        const fresh = (await uploadVideo(alice, fakeMp4(40_000))).json.id;
        return send("DELETE", `/api/v2/videos/${fresh}`, { bearer: b });
      },
      expect: deleted,
    },
  ];

  for (const row of rows) {
    it(row.name, async () => {
      const got = {} as Record<Who, number>;
      for (const who of WHO) got[who] = (await row.call(bearerOf(who))).status;
      expect(got).toEqual(row.expect);
    });
  }

  it("answers another user's id exactly as an id that does not exist", async () => {
    for (const path of [`/api/v2/pictures/${picture}`, `/api/v2/videos/${video}/content`]) {
      const theirs = await send("GET", path, { bearer: bob.bearer });
      const missing = await send("GET", path.replace(/[0-9a-f-]{36}/, randomUUID()), { bearer: bob.bearer });
      expect([theirs.status, theirs.json.error.message]).toEqual([missing.status, missing.json.error.message]);
    }
  });

  it("takes a user's v1 token as a bearer too", async () => {
    const res = await send("GET", `/api/v2/pictures/${picture}`, { bearer: alice.v1Token });
    expect(res.status).toBe(200);
  });
});

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

describe("transcripts (plain text, WebVTT, SRT), replaceable", () => {
  const vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello there\n\n00:00:03.000 --> 00:00:04.000\nSecond cue\n";
  const srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nUn\r\n\r\n2\r\n00:01:00,500 --> 00:01:02,000\r\nDeux\r\n";
  let id: string;
  const put = (body: string, type: string, who: Account = alice) =>
    send("PUT", `/api/v2/videos/${id}/transcript`, {
      bearer: who.bearer,
      body: Buffer.from(body),
      headers: { "content-type": type },
    });
  const get = (accept?: string) =>
    send("GET", `/api/v2/videos/${id}/transcript`, { bearer: alice.bearer, headers: accept ? { accept } : {} });

  beforeAll(async () => {
    id = (await uploadVideo(alice, fakeMp4(100_000), "filename=talk.mp4")).json.id;
  });

  it("has none at first (404), then takes WebVTT: JSON segments in ms, or WebVTT back", async () => {
    expect((await get()).status).toBe(404);
    const js = jetstream(nc);
    const start = (await (await js.streams.get(MEDIA_EVENTS_STREAM)).info()).state.last_seq;
    const res = await put(vtt, "text/vtt");
    expect(res.status, res.bytes.toString()).toBe(200);
    expect(res.json).toMatchObject({ id, hasTranscript: true });
    const json = await get();
    expect(json.status).toBe(200);
    expect(json.json).toEqual({
      format: "vtt",
      text: vtt,
      segments: [
        { start: 1_000, end: 2_500, text: "Hello there" },
        { start: 3_000, end: 4_000, text: "Second cue" },
      ],
      updatedAt: expect.any(String),
    });
    const asVtt = await get("text/vtt");
    expect(asVtt.headers.get("content-type")).toBe("text/vtt; charset=utf-8");
    expect(asVtt.bytes.toString()).toBe(vtt);
    expect((await send("GET", `/api/v2/videos/${id}`, { bearer: alice.bearer })).json.transcript).toBe(vtt);

    const stream = await js.streams.get(MEDIA_EVENTS_STREAM);
    const last = (await stream.info()).state.last_seq;
    const subjects: string[] = [];
    for (let seq = start + 1; seq <= last; seq++) {
      const m = await stream.getMessage({ seq });
      if (m?.subject === mediaEvents.transcriptUpdated.subject && m.json<{ videoId: string }>().videoId === id) {
        subjects.push(m.subject);
      }
    }
    expect(subjects).toHaveLength(1);
  });

  it("replaces it with SRT (converted to WebVTT on the way out) and with plain text", async () => {
    expect((await put(srt, "application/x-subrip")).status).toBe(200);
    expect((await get()).json).toMatchObject({
      format: "srt",
      segments: [
        { start: 1_000, end: 2_000, text: "Un" },
        { start: 60_500, end: 62_000, text: "Deux" },
      ],
    });
    expect((await get("text/vtt")).bytes.toString()).toContain("00:01:00.500 --> 00:01:02.000\nDeux");
    expect((await put("Just the words.", "text/plain; charset=utf-8")).status).toBe(200);
    expect((await get()).json).toMatchObject({ format: "text", text: "Just the words.", segments: [] });
    expect((await get("text/vtt")).bytes.toString()).toBe("WEBVTT\n\n00:00:00.000 --> 24:00:00.000\nJust the words.\n");
  });

  it("refuses an invalid file naming the line, other types, oversize and non-UTF-8; the old one stays", async () => {
    const broken = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nFine\n\n00:00:0x.000 --> 00:00:04.000\nBroken\n";
    const bad = await put(broken, "text/vtt");
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/invalid WebVTT transcript: line 6: /);
    const badSrt = await put("1\n00:00:01,000 -> 00:00:02,000\nArrow\n", "application/x-subrip");
    expect(badSrt.status).toBe(400);
    expect(badSrt.json.error.message).toMatch(/invalid SRT transcript: line \d+: /);
    expect((await put("{}", "application/json")).status).toBe(415);
    expect((await put("x".repeat(1_000_001), "text/plain")).status).toBe(413);
    const latin1 = await send("PUT", `/api/v2/videos/${id}/transcript`, {
      bearer: alice.bearer,
      body: Buffer.from([0x63, 0x61, 0x66, 0xe9]),
      headers: { "content-type": "text/plain" },
    });
    expect(latin1.status).toBe(400);
    expect((await get()).json.text).toBe("Just the words.");
  });

  it("refuses an upload whose transcript is invalid WebVTT before storing anything", async () => {
    const before = await mediaDb.collection("videos.files").countDocuments();
    const form = new FormData();
    form.append("transcript", "WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nBackwards\n");
    form.append("file", new Blob([fakeMp4(200_000)]), "x.mp4");
    const res = await send("POST", "/api/v2/videos", { bearer: alice.bearer, body: form });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/line 3: End timestamp is not greater/);
    expect(await mediaDb.collection("videos.files").countDocuments()).toBe(before);
  });
});

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

describe("a client that goes away mid-upload", () => {
  it("leaves no file and no chunk behind", async () => {
    const chunks = mediaDb.collection("videos.chunks");
    const files = mediaDb.collection("videos.files");
    const before = { chunks: await chunks.countDocuments(), files: await files.countDocuments() };
    const url = new URL(`${base}/api/v2/videos?filename=cut.mp4`);
    const req = httpRequest(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${alice.bearer}`,
        "content-type": "video/mp4",
        "content-length": String(6 * 1024 * 1024),
      },
    });
    req.on("error", () => {});
    req.write(fakeMp4(2 * 1024 * 1024));
    // Media has stored some of it...
    const { value: during } = await within(
      10_000,
      () => chunks.countDocuments(),
      (n) => n >= before.chunks + 4,
    );
    expect(during).toBeGreaterThanOrEqual(before.chunks + 4);
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
    const req = httpRequest(new URL(`${base}/api/v2/videos?filename=crash.mp4`), {
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
      () => chunks.countDocuments(),
      (n) => n >= before + 4,
    );
    expect(during).toBeGreaterThanOrEqual(before + 4);
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
