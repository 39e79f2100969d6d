/**
 * Transcript text is text, through the real gateway, auth, media and analysis processes (real
 * NATS, the MongoDB-protocol server, Redis, ffmpeg): WebVTT and SRT files whose cues carry
 * character references and markup are stored as sent and read as plain segments (a transcript
 * stored before, without its format, too); an analysis over each yields questions whose text,
 * options and explanations hold no reference or tag, and every export (`json`, `csv`, `moodle`,
 * `gift`) parsed back by a reader of its own format (JSON.parse, csv-parse, fast-xml-parser with an
 * HTML decoder, gift-pegjs) gives exactly those texts: each format escapes them once, its own way.
 */
import type { Question } from "@trellis/contracts";
import { poll } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { parse as parseCsv } from "csv-parse/sync";
import { decodeHTML } from "entities";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { parse as parseGift } from "gift-pegjs";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isMarkedCuePlain,
  LEFTOVER_MARKUP,
  markedSegments,
  markedSrt,
  markedVtt,
} from "./support/marked-transcript.ts";
import { type Account, http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const VIDEO_SECONDS = 20;
const NUM_QUESTIONS = 6;

const stack = useFileStack();
let platform: Platform;
let base: string;
let mongo: MongoClient;
let alice: Account;
let video: Buffer;

const bearer = () => ({ authorization: `Bearer ${alice.bearer}` });

/** Uploads the video with `transcript` as a form's file part (before the file part). */
async function uploadWithTranscript(transcript: string, name: string): Promise<string> {
  const form = new FormData();
  form.append("transcript", new Blob([transcript]), name);
  form.append("file", new Blob([video]), "clip.mp4");
  const res = await fetch(`${base}/api/v2/videos`, { method: "POST", headers: bearer(), body: form });
  const body = (await res.json()) as { id: string; hasTranscript: boolean };
  expect(res.status, JSON.stringify(body)).toBe(201);
  expect(body.hasTranscript).toBe(true);
  return body.id;
}

const getTranscript = (videoId: string, accept?: string) =>
  fetch(`${base}/api/v2/videos/${videoId}/transcript`, { headers: { ...bearer(), ...(accept ? { accept } : {}) } });

/** Analyses the video to the end: its questions. */
async function analyse(videoId: string): Promise<{ id: string; questions: Question[] }> {
  const started = await http(base, "POST", "/api/v2/analyses", {
    bearer: alice.bearer,
    json: { video_id: videoId, title: "Hydroponics & <friends>", num_questions: NUM_QUESTIONS, keyframe_interval: 10 },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const id: string = started.body.id;
  const { value } = await poll(
    () => http(base, "GET", `/api/v2/analyses/${id}`, { bearer: alice.bearer }),
    (r) => r.status === 200 && ["completed", "failed", "cancelled"].includes(r.body.state),
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  expect(value.body.state, JSON.stringify(value.body)).toBe("completed");
  const questions = await http(base, "GET", `/api/v2/analyses/${id}/questions`, { bearer: alice.bearer });
  expect(questions.status).toBe(200);
  return { id, questions: questions.body.items };
}

const exportOf = async (analysisId: string, format: string) => {
  const res = await fetch(`${base}/api/v2/analyses/${analysisId}/questions?format=${format}`, { headers: bearer() });
  expect(res.status, format).toBe(200);
  return { type: res.headers.get("content-type") ?? "", text: await res.text() };
};

/** What a browser shows for the HTML of a Moodle `format="html"` field: tags out, references decoded once. */
const htmlToText = (html: string) =>
  decodeHTML(
    html
      .replace(/^<p>|<\/p>$/g, "")
      .replaceAll("<br>", "\n")
      .replace(/<[^>]*>/g, ""),
  );

const xml = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  isArray: (name) => name === "question" || name === "answer",
});

beforeAll(async () => {
  video = testVideo({ seconds: VIDEO_SECONDS });
  platform = await startPlatform({ stack, services: ["auth", "media", "analysis"] });
  base = platform.base;
  mongo = await new MongoClient(stack.mongoUrl).connect();
  alice = await registerUser(base, platform.suffix, "alice");
}, 120_000);

afterAll(async () => {
  await mongo?.close();
  await platform?.stop();
});

describe.each([
  { format: "vtt", file: "lesson.vtt", raw: markedVtt },
  { format: "srt", file: "lesson.srt", raw: markedSrt },
])("an uploaded $format transcript with character references and markup", ({ format, file, raw }) => {
  let videoId: string;

  beforeAll(async () => {
    videoId = await uploadWithTranscript(raw, file);
  });

  it("is stored as sent and read from media as plain segments", async () => {
    const res = await getTranscript(videoId);
    expect(res.status).toBe(200);
    const transcript = (await res.json()) as { format: string; text: string; segments: unknown };
    expect(transcript.format).toBe(format);
    expect(transcript.text).toBe(raw);
    expect(transcript.segments).toEqual(markedSegments);
    const meta = await http(base, "GET", `/api/v2/videos/${videoId}`, { bearer: alice.bearer });
    expect(meta.body.transcript).toBe(raw);
  });

  it("yields questions whose text, options and explanations are plain, and so does every export", async () => {
    const { id, questions } = await analyse(videoId);
    expect(questions.length).toBeGreaterThanOrEqual(3);
    for (const q of questions) {
      for (const t of [q.text, q.answer, q.explanation, ...q.options]) expect(t).not.toMatch(LEFTOVER_MARKUP);
      expect(isMarkedCuePlain(q.explanation), q.explanation).toBe(true);
    }
    // What the exports must escape is there: decoded `&`, `<`, `>`, quotes, GIFT's specials.
    const all = questions.map((q) => [q.text, q.explanation, ...q.options].join(" ")).join(" ");
    expect(all).toMatch(/&/);
    expect(all).toMatch(/[<>]/);
    expect(all).toMatch(/[{}#=~:]/);

    // JSON: the same texts.
    const json = await exportOf(id, "json");
    expect(json.type).toContain("application/json");
    const doc = JSON.parse(json.text) as { title: string; questions: Question[] };
    expect(doc.title).toBe("Hydroponics & <friends>");
    expect(doc.questions).toEqual(questions);

    // CSV: RFC 4180, read back by csv-parse.
    const csv = await exportOf(id, "csv");
    const rows = parseCsv(csv.text, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(questions.length);
    questions.forEach((q, i) => {
      const row = rows[i] as Record<string, string>;
      expect(row.question).toBe(q.text);
      expect(row.answer).toBe(q.answer);
      expect(row.explanation).toBe(q.explanation);
      expect(q.options.map((_, k) => row[`option_${k + 1}`])).toEqual(q.options);
    });

    // Moodle XML: well-formed; each HTML field is the text escaped once (`&amp;`, never `&amp;amp;`).
    const moodle = await exportOf(id, "moodle");
    expect(XMLValidator.validate(moodle.text)).toBe(true);
    expect(moodle.text).not.toMatch(/&amp;(?:amp|lt|gt|quot|nbsp|#\d+);/);
    const parsed = xml.parse(moodle.text) as {
      quiz: {
        question: {
          "@_type": string;
          category?: { text: string };
          questiontext: { text: string };
          generalfeedback: { text: string };
          answer: { "@_fraction": string; text: string }[];
        }[];
      };
    };
    const [category, ...mq] = parsed.quiz.question;
    expect(category?.category?.text).toBe("$course$/top/Hydroponics & <friends>");
    expect(mq).toHaveLength(questions.length);
    questions.forEach((q, i) => {
      const m = mq[i] as (typeof mq)[number];
      expect(htmlToText(m.questiontext.text)).toBe(q.text);
      expect(htmlToText(m.generalfeedback.text)).toBe(q.explanation);
      if (m["@_type"] === "multichoice") {
        expect(m.answer.map((a) => htmlToText(a.text))).toEqual(q.options);
        expect(m.answer.filter((a) => a["@_fraction"] === "100").map((a) => htmlToText(a.text))).toEqual([q.answer]);
      } else {
        expect(m["@_type"]).toBe("shortanswer");
        expect(m.answer.map((a) => a.text)).toEqual([q.answer.replaceAll("*", "\\*")]);
      }
    });

    // GIFT: read back by gift-pegjs (an implementation of Moodle's GIFT grammar).
    const gift = await exportOf(id, "gift");
    expect(gift.type).toContain("text/plain");
    const [giftCategory, ...gq] = parseGift(gift.text);
    expect(giftCategory).toMatchObject({ type: "Category", title: "$course$/top/Hydroponics & <friends>" });
    expect(gq).toHaveLength(questions.length);
    questions.forEach((q, i) => {
      const g = gq[i] as Extract<(typeof gq)[number], { type: "MC" | "Short" }>;
      expect(g.type).toBe(q.kind === "multiple_choice" ? "MC" : "Short");
      expect(g.stem.text).toBe(q.text);
      expect(g.globalFeedback?.text).toBe(q.explanation);
      expect(g.choices.map((c) => c.text.text)).toEqual(q.options);
      expect(g.choices.filter((c) => c.isCorrect).map((c) => c.text.text)).toEqual([q.answer]);
    });
  });
});

describe("a transcript stored before cue text was made plain (raw, without its format)", () => {
  it("reads as plain segments too: cleaned on every read, no migration", async () => {
    const form = new FormData();
    form.append("file", new Blob([video]), "old.mp4");
    const res = await fetch(`${base}/api/v2/videos`, { method: "POST", headers: bearer(), body: form });
    const { id } = (await res.json()) as { id: string };
    expect(res.status).toBe(201);
    // As older versions of media stored it: the text as sent, no recorded format.
    const files = mongo.db(platform.dbName("media")).collection<{ _id: string }>("videos.files");
    const updated = await files.updateOne(
      { _id: id },
      { $set: { "metadata.transcript": markedVtt, "metadata.hasTranscript": true } },
    );
    expect(updated.matchedCount).toBe(1);
    const got = await getTranscript(id);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ format: "vtt", text: markedVtt, segments: markedSegments });
  });
});

describe("an SRT transcript read as WebVTT", () => {
  it("is its plain text escaped for WebVTT (no <font>, no {\\an8}, no bare &)", async () => {
    const id = await uploadWithTranscript(markedSrt, "again.srt");
    const res = await getTranscript(id, "text/vtt");
    expect(res.headers.get("content-type")).toContain("text/vtt");
    const vtt = await res.text();
    expect(vtt).not.toMatch(/<font|\{\\|R&D/i);
    expect(vtt).toContain("R&amp;D's rule: Ca = health ~ yield");
    // Sent back as a WebVTT transcript, it reads as the same segments.
    const put = await fetch(`${base}/api/v2/videos/${id}/transcript`, {
      method: "PUT",
      headers: { ...bearer(), "content-type": "text/vtt" },
      body: vtt,
    });
    expect(put.status).toBe(200);
    expect(((await (await getTranscript(id)).json()) as { segments: unknown }).segments).toEqual(markedSegments);
  });
});
