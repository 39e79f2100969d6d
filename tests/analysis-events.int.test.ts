import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ANALYSIS_EVENTS_STREAM } from "@trellis/contracts";
import { poll } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadVideo } from "./support/analysis.ts";
import { type Account, http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { parseSseEvents, type ReceivedEvent } from "./support/sse.ts";
import { testVideo } from "./support/video.ts";

const stack = useFileStack();
let platform: Platform;
let base: string;
let video: Buffer;
let alice: Account;
let bob: Account;
let nc: NatsConnection;

const vtt = [
  "WEBVTT",
  "",
  "00:00:00.000 --> 00:00:03.000",
  "Hydroponics means growing plants without soil, with their roots in a nutrient solution.",
  "",
  "00:00:03.000 --> 00:00:06.000",
  "The pH of the nutrient solution should stay between 5.5 and 6.5 for most crops.",
  "",
  "00:00:06.000 --> 00:00:09.000",
  "Basil needs about 14 hours of light every day to grow quickly.",
  "",
  "00:00:09.000 --> 00:00:12.000",
  "Tomatoes need calcium to avoid blossom end rot on the fruit.",
  "",
].join("\n");

const register = (prefix: string): Promise<Account> => registerUser(base, platform.suffix, prefix);

async function startAnalysis(who: Account): Promise<string> {
  const videoId = await uploadVideo(base, who, video, vtt);
  const res = await http(base, "POST", "/api/v2/analyses", {
    bearer: who.bearer,
    json: { video_id: videoId, title: "Hydroponics", num_questions: 3, keyframe_interval: 2 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

/** Reads the whole stream (the server ends it after the terminal event). */
async function readEvents(
  analysisId: string,
  options: { bearer?: string; lastEventId?: string; query?: string } = {},
): Promise<{ status: number; contentType: string | null; events: ReceivedEvent[] }> {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
  const res = await fetch(`${base}/api/v2/analyses/${analysisId}/events${options.query ?? ""}`, {
    headers,
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    events: res.status === 200 ? parseSseEvents(text) : [],
  };
}

beforeAll(async () => {
  video = testVideo({ seconds: 12, pattern: "testsrc2", audio: true });
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis"],
    extraEnv: { FFMPEG_READ_RATE: "4", WORKER_CONCURRENCY: "1", PROGRESS_INTERVAL_MS: "50" },
  });
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  [alice, bob] = await Promise.all([register("alice"), register("bob")]);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await platform?.stop();
});

describe("analysis events over SSE", () => {
  let analysisId: string;
  let all: ReceivedEvent[];

  it("streams live progress percents going up, then completed, and ends the stream", async () => {
    analysisId = await startAnalysis(alice);
    const { status, contentType, events } = await readEvents(analysisId, { bearer: alice.bearer });
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    all = events;
    const kinds = events.map((e) => e.event);
    expect(kinds.at(-1), JSON.stringify(events)).toBe("completed");
    expect(kinds.slice(0, -1).every((k) => k === "progress")).toBe(true);
    const percents = events
      .filter((e) => e.event === "progress")
      .map((e) => (e.data.progress as { percent: number }).percent);
    expect(percents.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1] as number);
    expect(percents[0]).toBeLessThan(100);
    expect(percents.at(-1)).toBe(100);
    // Ids are stream sequences, increasing; every event is this analysis's.
    const ids = events.map((e) => Number(e.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as number);
    for (const e of events) expect(e.data.analysisId).toBe(analysisId);
    expect(events.at(-1)?.data.questionCount).toBe(3);
  }, 90_000);

  it("replays a finished analysis's events in full, then ends", async () => {
    const again = await readEvents(analysisId, { bearer: alice.bearer });
    expect(again.status).toBe(200);
    expect(again.events).toEqual(all);
  });

  it("resumes after Last-Event-ID (header or ?lastEventId=) with exactly the events after it", async () => {
    const middle = Math.floor(all.length / 2);
    const lastSeen = all[middle] as ReceivedEvent;
    const resumed = await readEvents(analysisId, { bearer: alice.bearer, lastEventId: lastSeen.id });
    expect(resumed.status).toBe(200);
    expect(resumed.events).toEqual(all.slice(middle + 1));
    const byQuery = await readEvents(analysisId, { bearer: alice.bearer, query: `?lastEventId=${lastSeen.id}` });
    expect(byQuery.events).toEqual(all.slice(middle + 1));
    // After the terminal event there is nothing more: the stream ends at once, empty.
    const afterLast = await readEvents(analysisId, { bearer: alice.bearer, lastEventId: all.at(-1)?.id as string });
    expect(afterLast.status).toBe(200);
    expect(afterLast.events).toEqual([]);
  });

  it("resumes a live stream: events before the cut and after it make the full list", async () => {
    const id = await startAnalysis(alice);
    const controller = new AbortController();
    const res = await fetch(`${base}/api/v2/analyses/${id}/events`, {
      headers: { authorization: `Bearer ${alice.bearer}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    // Read until the first two events have arrived, then drop the connection.
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (parseSseEvents(text.slice(0, text.lastIndexOf("\n\n") + 2)).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    controller.abort();
    const before = parseSseEvents(text.slice(0, text.lastIndexOf("\n\n") + 2));
    expect(before.length).toBeGreaterThanOrEqual(2);
    const after = await readEvents(id, { bearer: alice.bearer, lastEventId: before.at(-1)?.id as string });
    expect(after.events.at(-1)?.event).toBe("completed");
    const full = await readEvents(id, { bearer: alice.bearer });
    expect([...before, ...after.events]).toEqual(full.events);
    // Every stream has ended (one by the client leaving): no consumer is left on the stream.
    const jsm = await jetstreamManager(nc);
    const consumers = await poll(
      async () => (await jsm.streams.info(ANALYSIS_EVENTS_STREAM)).state.consumer_count,
      (count) => count === 0,
      { timeoutMs: 5_000, intervalMs: 100 },
    );
    expect(consumers.value).toBe(0);
  }, 90_000);

  it("answers 404 to another user and 401 without a token", async () => {
    const other = await readEvents(analysisId, { bearer: bob.bearer });
    expect(other.status).toBe(404);
    expect((await readEvents(analysisId)).status).toBe(401);
  });

  it("accepts ?access_token= without an Authorization header", async () => {
    const viaQuery = await readEvents(analysisId, { query: `?access_token=${encodeURIComponent(alice.bearer)}` });
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.events).toEqual(all);
    const bobViaQuery = await readEvents(analysisId, { query: `?access_token=${encodeURIComponent(bob.bearer)}` });
    expect(bobViaQuery.status).toBe(404);
  });
});
