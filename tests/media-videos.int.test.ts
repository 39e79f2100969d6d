/**
 * Videos through the real gateway, auth and media processes (seed 000's VideoDatabase): a
 * streamed upload (sha256, type from the bytes, ffprobe), downloads with Range / If-Range /
 * If-None-Match / HEAD, metadata and lists, 413 with a lingering close, admin uploads and deletes
 * with their events.
 */
import { randomUUID } from "node:crypto";
import { connect as netConnect } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import { MEDIA_EVENTS_STREAM, mediaEvents } from "@trellis/contracts";
import { beforeAll, describe, expect, it } from "vitest";
import {
  admin,
  alice,
  base,
  bob,
  image,
  mediaDb,
  nc,
  send,
  uploadVideo,
  useMediaPlatform,
  VIDEO_MAX_BYTES,
} from "./support/media.ts";
import { within } from "./support/platform.ts";
import { fakeMp4, sha256, testVideo } from "./support/video.ts";

useMediaPlatform();

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

  it("reads duration, dimensions and codec with ffprobe", async () => {
    const clip = testVideo({ seconds: 2 });
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
