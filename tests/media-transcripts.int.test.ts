/**
 * Transcripts of a video (plain text, WebVTT, SRT): stored, given back as JSON segments or WebVTT,
 * replaced, refused with the line named, and checked before an upload is stored.
 */
import { jetstream } from "@nats-io/jetstream";
import { MEDIA_EVENTS_STREAM, mediaEvents } from "@trellis/contracts";
import { beforeAll, describe, expect, it } from "vitest";
import { alice, mediaDb, nc, send, uploadVideo, useMediaPlatform } from "./support/media.ts";
import type { Account } from "./support/platform.ts";
import { fakeMp4 } from "./support/video.ts";

useMediaPlatform();

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
