/**
 * Resumable video uploads (tus 1.0 at /api/v2/uploads) through the real gateway, auth and media
 * processes: discovery and creation headers, an upload in several PATCHes, a PATCH cut off
 * mid-body resumed from HEAD's offset, offset conflicts, termination, expiry (the sweep removes
 * the chunks), permissions, and the real tus-js-client (with an abort and a resume).
 */
import { createHash, randomBytes } from "node:crypto";
import * as tus from "tus-js-client";
import { describe, expect, it } from "vitest";
import {
  admin,
  alice,
  base,
  bob,
  mediaDb,
  monitorToken,
  platform,
  register,
  send,
  useMediaPlatform,
  VIDEO_MAX_BYTES,
} from "./support/media.ts";
import { type Account, http, within } from "./support/platform.ts";
import { fakeMp4, sha256 } from "./support/video.ts";

/** Short, so the expiry test does not wait long; every other test PATCHes well within it. */
const TUS_EXPIRY_MS = 6_000;
const CHUNK = 255 * 1024;

// No quota here: alice's uploads add up over the file (the quota has a file of its own).
useMediaPlatform({ TUS_EXPIRY_MS: String(TUS_EXPIRY_MS), UPLOAD_SWEEP_INTERVAL_MS: "200", MEDIA_QUOTA_BYTES: "0" });

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

const TUS = { "tus-resumable": "1.0.0" };

async function create(who: Account, length: number, filename = "clip.mp4", extra: Record<string, string> = {}) {
  const res = await send("POST", "/api/v2/uploads", {
    bearer: who.bearer,
    headers: { ...TUS, "upload-length": String(length), "upload-metadata": `filename ${b64(filename)}`, ...extra },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  const location = res.headers.get("location") ?? "";
  return { res, location, id: location.split("/").pop() as string };
}

const patch = (
  who: Account,
  location: string,
  offset: number,
  body: Uint8Array,
  headers: Record<string, string> = {},
) =>
  send("PATCH", location, {
    bearer: who.bearer,
    body,
    headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": String(offset), ...headers },
  });

const head = (who: Account | string, location: string) =>
  send("HEAD", location, { bearer: typeof who === "string" ? who : who.bearer, headers: TUS });

/** Chunks and files documents of one id in the videos bucket, and its tus record. */
async function storedOf(id: string) {
  return {
    chunks: await mediaDb.collection("videos.chunks").countDocuments({ files_id: id }),
    files: await mediaDb.collection("videos.files").countDocuments({ _id: id as never }),
    uploads: await mediaDb.collection("tus_uploads").countDocuments({ _id: id as never }),
  };
}

describe("tus discovery and creation", () => {
  it("OPTIONS names the version, extensions and largest upload", async () => {
    const res = await send("OPTIONS", "/api/v2/uploads");
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-resumable")).toBe("1.0.0");
    expect(res.headers.get("tus-version")).toBe("1.0.0");
    expect(res.headers.get("tus-extension")).toBe("creation,termination,expiration,checksum");
    expect(res.headers.get("tus-checksum-algorithm")).toBe("sha1,sha256");
    expect(res.headers.get("tus-max-size")).toBe(String(VIDEO_MAX_BYTES));
  });

  it("POST creates an upload: 201, Location, Upload-Expires; HEAD reports offset 0", async () => {
    const { res, location, id } = await create(alice, 1000, "héllo.mp4");
    expect(location).toMatch(/^\/api\/v2\/uploads\/[0-9a-f-]{36}$/);
    expect(res.headers.get("tus-resumable")).toBe("1.0.0");
    const expires = Date.parse(res.headers.get("upload-expires") ?? "");
    expect(expires).toBeGreaterThan(Date.now());
    expect(expires).toBeLessThanOrEqual(Date.now() + TUS_EXPIRY_MS + 1_000);
    expect(res.json).toMatchObject({ id, ownerId: alice.id, filename: "héllo.mp4", length: 1000, offset: 0 });

    const h = await head(alice, location);
    expect(h.status).toBe(200);
    expect(h.headers.get("upload-offset")).toBe("0");
    expect(h.headers.get("upload-length")).toBe("1000");
    expect(h.headers.get("cache-control")).toBe("no-store");
    expect(h.headers.get("tus-resumable")).toBe("1.0.0");
    expect(h.headers.get("upload-metadata")).toBe(`filename ${b64("héllo.mp4")}`);
  });

  it("refuses what the protocol refuses: 412, 400, 413, 403 for monitors", async () => {
    const post = (headers: Record<string, string>, bearer = alice.bearer) =>
      send("POST", "/api/v2/uploads", { bearer, headers });
    const noVersion = await post({ "upload-length": "10", "upload-metadata": `filename ${b64("a.mp4")}` });
    expect(noVersion.status).toBe(412);
    expect(noVersion.headers.get("tus-version")).toBe("1.0.0");
    expect((await post({ "tus-resumable": "0.2.2", "upload-length": "10" })).status).toBe(412);
    expect((await post({ ...TUS, "upload-metadata": `filename ${b64("a.mp4")}` })).status).toBe(400);
    expect((await post({ ...TUS, "upload-length": "-1", "upload-metadata": `filename ${b64("a.mp4")}` })).status).toBe(
      400,
    );
    expect((await post({ ...TUS, "upload-length": "10" })).status).toBe(400);
    expect((await post({ ...TUS, "upload-length": "10", "upload-metadata": "filename ***" })).status).toBe(400);
    expect((await post({ ...TUS, "upload-length": "10", "upload-metadata": `name ${b64("a")}` })).status).toBe(400);
    const big = await post({
      ...TUS,
      "upload-length": String(VIDEO_MAX_BYTES + 1),
      "upload-metadata": `filename ${b64("a.mp4")}`,
    });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe("payload_too_large");
    const monitor = await post(
      { ...TUS, "upload-length": "10", "upload-metadata": `filename ${b64("a.mp4")}` },
      monitorToken,
    );
    expect(monitor.status).toBe(403);
    expect(
      (await post({ ...TUS, "upload-length": "10", "upload-metadata": `filename ${b64("a.mp4")}` }, "")).status,
    ).toBe(401);
  });

  it("exposes the tus headers to browsers (CORS)", async () => {
    const res = await send("POST", "/api/v2/uploads", {
      bearer: alice.bearer,
      headers: {
        ...TUS,
        origin: "http://example.test",
        "upload-length": "5",
        "upload-metadata": `filename ${b64("a.mp4")}`,
      },
    });
    expect(res.status).toBe(201);
    const exposed = (res.headers.get("access-control-expose-headers") ?? "").toLowerCase();
    for (const h of ["location", "upload-offset", "upload-length", "upload-expires", "tus-resumable", "tus-max-size"]) {
      expect(exposed).toContain(h);
    }
  });
});

describe("tus uploads", () => {
  it("an upload in several PATCHes becomes the video with the same id and sha256", async () => {
    const source = fakeMp4(3 * CHUNK + 12_345);
    const { location, id } = await create(alice, source.length, "several.mp4", {
      "upload-metadata": `filename ${b64("several.mp4")},transcript ${b64("hello there")}`,
    });
    // Uneven pieces: inside a chunk, across chunk boundaries, the rest.
    const cuts = [0, 1_000, 100_000, 2 * CHUNK + 7, source.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const from = cuts[i] as number;
      const to = cuts[i + 1] as number;
      const res = await patch(alice, location, from, source.subarray(from, to));
      expect(res.status, JSON.stringify(res.json)).toBe(204);
      expect(res.headers.get("upload-offset")).toBe(String(to));
      expect(res.headers.get("tus-resumable")).toBe("1.0.0");
      if (to < source.length) expect(Date.parse(res.headers.get("upload-expires") ?? "")).toBeGreaterThan(Date.now());
      else expect(res.headers.get("upload-expires")).toBeNull();
    }
    const video = await send("GET", `/api/v2/videos/${id}`, { bearer: alice.bearer });
    expect(video.status).toBe(200);
    expect(video.json).toMatchObject({
      id,
      ownerId: alice.id,
      filename: "several.mp4",
      type: "video/mp4",
      size: source.length,
      sha256: sha256(source),
      transcript: "hello there",
    });
    const content = await fetch(`${base}/api/v2/videos/${id}/content`, {
      headers: { authorization: `Bearer ${alice.bearer}` },
    });
    expect(sha256(Buffer.from(await content.arrayBuffer()))).toBe(sha256(source));
    expect(await storedOf(id)).toEqual({ chunks: 4, files: 1, uploads: 0 });
    // Finished: no longer an upload.
    expect((await head(alice, location)).status).toBe(404);
  });

  it("409 on an offset that is not the upload's; 415 on a wrong Content-Type; 413 past Upload-Length", async () => {
    const source = fakeMp4(50_000);
    const { location } = await create(alice, source.length);
    expect((await patch(alice, location, 0, source.subarray(0, 10_000))).status).toBe(204);
    const wrong = await patch(alice, location, 5_000, source.subarray(5_000, 10_000));
    expect(wrong.status).toBe(409);
    expect(wrong.json.error.code).toBe("conflict");
    const type = await patch(alice, location, 10_000, source.subarray(10_000, 20_000), {
      "content-type": "application/octet-stream",
    });
    expect(type.status).toBe(415);
    expect((await patch(alice, location, 10_000, fakeMp4(60_000))).status).toBe(413);
    expect((await patch(alice, location, 10_000, source.subarray(10_000), { "upload-offset": "ten" })).status).toBe(
      400,
    );
    expect((await head(alice, location)).headers.get("upload-offset")).toBe("10000");
    expect((await patch(alice, location, 10_000, source.subarray(10_000))).status).toBe(204);
  });

  it("a PATCH cut off mid-body keeps what arrived; HEAD + PATCH from there finish it", async () => {
    const source = fakeMp4(6 * CHUNK + 999);
    const { location, id } = await create(alice, source.length, "cut.mp4");
    const sent = 3 * CHUNK + 5_000;
    const controller = new AbortController();
    let more: (() => void) | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(source.subarray(0, sent));
        more = () => c.close();
      },
    });
    const cut = fetch(`${base}${location}`, {
      method: "PATCH",
      headers: {
        ...TUS,
        authorization: `Bearer ${alice.bearer}`,
        "content-type": "application/offset+octet-stream",
        "upload-offset": "0",
      },
      body,
      duplex: "half",
      signal: controller.signal,
    } as RequestInit).catch((err: Error) => err);
    // Media has written full chunks of it...
    await within(
      10_000,
      () => mediaDb.collection("videos.chunks").countDocuments({ files_id: id }),
      (n) => n >= 3,
    );
    // ...when the client goes away, mid-body.
    controller.abort();
    expect(await cut).toBeInstanceOf(Error);
    expect(more).toBeDefined();
    const media = platform.procs.find((p) => p.name === "media");
    await media?.waitForLog((l) => l.msg === "tus PATCH ended early", 10_000);

    const h = await head(alice, location);
    expect(h.status).toBe(200);
    const offset = Number(h.headers.get("upload-offset"));
    expect(offset).toBeGreaterThanOrEqual(3 * CHUNK);
    expect(offset).toBeLessThanOrEqual(sent);
    const rest = await patch(alice, location, offset, source.subarray(offset));
    expect(rest.status, JSON.stringify(rest.json)).toBe(204);
    expect(rest.headers.get("upload-offset")).toBe(String(source.length));
    const video = await send("GET", `/api/v2/videos/${id}`, { bearer: alice.bearer });
    expect(video.json.sha256).toBe(sha256(source));
  });

  it("checksum: a matching body is kept; a mismatch (460) keeps none of it; an unknown algorithm is a 400", async () => {
    const source = fakeMp4(2 * CHUNK + 77);
    const { location, id } = await create(alice, source.length);
    const digest = (algorithm: string, b: Uint8Array) => createHash(algorithm).update(b).digest("base64");
    const first = source.subarray(0, CHUNK + 10);
    const ok = await patch(alice, location, 0, first, { "upload-checksum": `sha256 ${digest("sha256", first)}` });
    expect(ok.status, JSON.stringify(ok.json)).toBe(204);
    expect(ok.headers.get("upload-offset")).toBe(String(first.length));

    const rest = source.subarray(first.length);
    const bad = await patch(alice, location, first.length, rest, {
      "upload-checksum": `sha1 ${digest("sha1", Buffer.from("something else"))}`,
    });
    expect(bad.status).toBe(460);
    expect((await head(alice, location)).headers.get("upload-offset")).toBe(String(first.length));
    expect(
      (await patch(alice, location, first.length, rest, { "upload-checksum": `md5 ${digest("md5", rest)}` })).status,
    ).toBe(400);

    const good = await patch(alice, location, first.length, rest, {
      "upload-checksum": `sha1 ${digest("sha1", rest)}`,
    });
    expect(good.status, JSON.stringify(good.json)).toBe(204);
    expect(good.headers.get("upload-offset")).toBe(String(source.length));
    const video = await send("GET", `/api/v2/videos/${id}`, { bearer: alice.bearer });
    expect(video.json.sha256).toBe(sha256(source));
    expect(await storedOf(id)).toEqual({ chunks: 3, files: 1, uploads: 0 });
  });

  it("the last byte of something that is not a video: 415, and nothing is left", async () => {
    const source = randomBytes(CHUNK + 10);
    const { location, id } = await create(alice, source.length, "noise.mp4");
    const res = await patch(alice, location, 0, source);
    expect(res.status).toBe(415);
    expect(await storedOf(id)).toEqual({ chunks: 0, files: 0, uploads: 0 });
  });

  it("DELETE terminates an upload and removes its chunks", async () => {
    const source = fakeMp4(3 * CHUNK);
    const { location, id } = await create(alice, source.length);
    expect((await patch(alice, location, 0, source.subarray(0, 2 * CHUNK + 10))).status).toBe(204);
    expect(await storedOf(id)).toEqual({ chunks: 2, files: 0, uploads: 1 });
    const del = await send("DELETE", location, { bearer: alice.bearer, headers: TUS });
    expect(del.status).toBe(204);
    expect(del.headers.get("tus-resumable")).toBe("1.0.0");
    expect(await storedOf(id)).toEqual({ chunks: 0, files: 0, uploads: 0 });
    expect((await head(alice, location)).status).toBe(404);
    expect((await patch(alice, location, 2 * CHUNK + 10, source.subarray(2 * CHUNK + 10))).status).toBe(404);
    expect((await send("DELETE", location, { bearer: alice.bearer, headers: TUS })).status).toBe(404);
  });

  it("an upload left alone past Upload-Expires is gone, with its chunks", async () => {
    const source = fakeMp4(2 * CHUNK);
    const { location, id } = await create(alice, source.length);
    expect((await patch(alice, location, 0, source.subarray(0, CHUNK + 1))).status).toBe(204);
    expect(await storedOf(id)).toEqual({ chunks: 1, files: 0, uploads: 1 });
    const { value } = await within(
      TUS_EXPIRY_MS + 10_000,
      () => storedOf(id),
      (v) => v.uploads === 0 && v.chunks === 0,
    );
    expect(value).toEqual({ chunks: 0, files: 0, uploads: 0 });
    expect((await head(alice, location)).status).toBe(404);
    expect((await patch(alice, location, CHUNK + 1, source.subarray(CHUNK + 1))).status).toBe(404);
  });

  it("is the owner's (or an admin's): another user gets 404, a monitor 403", async () => {
    const source = fakeMp4(20_000);
    const { location } = await create(alice, source.length);
    expect((await head(bob, location)).status).toBe(404);
    expect((await patch(bob, location, 0, source)).status).toBe(404);
    expect((await send("DELETE", location, { bearer: bob.bearer, headers: TUS })).status).toBe(404);
    expect((await head(monitorToken, location)).status).toBe(403);
    expect((await head(alice, location)).headers.get("upload-offset")).toBe("0");
    // An admin may see it and finish it.
    expect((await head(admin, location)).status).toBe(200);
    expect((await patch(admin, location, 0, source)).status).toBe(204);
  });
});

describe("a deleted user's unfinished uploads", () => {
  it("are removed with their chunks by the user-deleted cascade", async () => {
    const erin = await register("erin");
    const source = fakeMp4(2 * CHUNK);
    const { location, id } = await create(erin, source.length);
    expect((await patch(erin, location, 0, source.subarray(0, CHUNK + 5))).status).toBe(204);
    expect(await storedOf(id)).toEqual({ chunks: 1, files: 0, uploads: 1 });
    const res = await http(base, "DELETE", `/api/v2/users/${erin.id}`, { bearer: admin.bearer });
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    const { value } = await within(
      15_000,
      () => storedOf(id),
      (v) => v.uploads === 0 && v.chunks === 0,
    );
    expect(value).toEqual({ chunks: 0, files: 0, uploads: 0 });
  });
});

describe("the real tus-js-client", () => {
  const run = (upload: tus.Upload) =>
    new Promise<void>((resolve, reject) => {
      upload.options.onSuccess = () => resolve();
      upload.options.onError = (err) => reject(err);
      upload.start();
    });

  it("uploads in chunks, and resumes after an abort", async () => {
    const source = fakeMp4(5 * CHUNK + 4321);
    const options = {
      endpoint: `${base}/api/v2/uploads`,
      headers: { authorization: `Bearer ${alice.bearer}` },
      chunkSize: 300 * 1024,
      metadata: { filename: "from-tus-js-client.mp4" },
      retryDelays: [],
    };
    // Stopped after its second chunk is in.
    const first = new tus.Upload(source, options);
    await new Promise<void>((resolve, reject) => {
      first.options.onChunkComplete = (_size, accepted) => {
        if (accepted >= 2 * 300 * 1024) {
          void first.abort().then(resolve, reject);
        }
      };
      first.options.onError = reject;
      first.options.onSuccess = () => reject(new Error("finished before the abort"));
      first.start();
    });
    const url = first.url as string;
    expect(url).toContain("/api/v2/uploads/");
    const id = url.split("/").pop() as string;
    expect((await storedOf(id)).files).toBe(0);

    // A new client for the same upload asks HEAD where to go on, and finishes it.
    const resumed = new tus.Upload(source, { ...options, uploadUrl: url });
    let started = -1;
    resumed.options.onProgress = (sentBytes) => {
      if (started < 0) started = sentBytes;
    };
    await run(resumed);
    expect(started).toBeGreaterThanOrEqual(2 * 300 * 1024);
    const video = await send("GET", `/api/v2/videos/${id}`, { bearer: alice.bearer });
    expect(video.status).toBe(200);
    expect(video.json).toMatchObject({
      filename: "from-tus-js-client.mp4",
      size: source.length,
      sha256: sha256(source),
    });
  });
});
