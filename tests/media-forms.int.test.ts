/**
 * Multipart uploads as browsers (FormData), curl -F and SDKs send them: seed 000's form fields,
 * the transcript before or after the file, UTF-8 filenames, the file streamed as it comes, all or
 * nothing, pictures as forms, and a clear 415 where a route takes only raw bytes.
 */
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { httpRoutes } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import {
  admin,
  alice,
  base,
  bob,
  image,
  mediaDb,
  PICTURE_MAX_BYTES,
  send,
  uploadVideo,
  useMediaPlatform,
} from "./support/media.ts";
import { within } from "./support/platform.ts";
import { fakeMp4, sha256 } from "./support/video.ts";

useMediaPlatform();

describe("a video form's fields (seed 000 insert_video)", () => {
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
});

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
