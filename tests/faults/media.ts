/**
 * The fault suite's media and analysis load: resumable tus uploads sent slowly (so that a PATCH is
 * in flight when the bouncer kills media) and resumed as a tus client does (HEAD, then PATCH from
 * the offset media reports), and analyses of an uploaded video with a transcript.
 */
import { createHash } from "node:crypto";
import { request } from "node:http";
import { call, type HttpAnswer, retrying } from "./load.ts";
import { sleep } from "./prng.ts";

/** One tus upload, resumed after every failure until complete. */
export interface UploadOutcome {
  id: string;
  length: number;
  sha256: string;
  videoId?: string;
  storedSha256?: string;
  patches: number;
  /** PATCHes that failed (any answer but 204, or none) and were resumed. */
  resumed: number;
  /** HEADs answered 504 (each a failure: a HEAD must answer the stored offset). */
  head504: number;
  /** The PATCH that completed it got no answer (cut), and HEAD then found no upload (it is the video). */
  finishedUnanswered?: boolean;
  error?: string;
}

export interface PatchCut {
  /** From the kill of media to the PATCH's answer (or its connection's end). */
  answeredMs: number;
  /** The answer's status; 0 when the connection ended without one (`error` says how). */
  status: number;
  error?: string;
}

/**
 * Uploads over tus, `bytesPerSecond` per PATCH body. `inFlight` tells the bouncer when a PATCH is
 * sending; `markKill()` records the moment media was killed, and the next PATCH that fails after
 * it is a cut PATCH: how long it took to be answered.
 */
export class TusUploads {
  readonly outcomes: UploadOutcome[] = [];
  readonly cuts: PatchCut[] = [];
  /** Bytes the PATCH in flight has sent so far (undefined: none in flight). */
  inFlightBytes: number | undefined;
  private killedAt: number | undefined;
  private running: Promise<void> | undefined;
  private readonly gateways: readonly string[];
  private readonly bearer: string;
  private readonly file: Buffer;
  private readonly bytesPerSecond: number;

  constructor(gateways: readonly string[], bearer: string, file: Buffer, bytesPerSecond: number) {
    this.gateways = gateways;
    this.bearer = bearer;
    this.file = file;
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Starts an upload unless one is running; resolves once a PATCH is sending (or after `timeoutMs`). */
  async ensureInFlight(timeoutMs: number): Promise<boolean> {
    if (!this.running) {
      const p = this.upload().finally(() => {
        if (this.running === p) this.running = undefined;
      });
      this.running = p;
    }
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if ((this.inFlightBytes ?? 0) > 64 * 1024) return true;
      await sleep(50);
    }
    return false;
  }

  markKill(): void {
    this.killedAt = Date.now();
  }

  /** Resolves when no upload is running. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.bearer}`, "tus-resumable": "1.0.0", ...extra };
  }

  private async upload(): Promise<void> {
    const length = this.file.length;
    const outcome: UploadOutcome = {
      id: "",
      length,
      sha256: createHash("sha256").update(this.file).digest("hex"),
      patches: 0,
      resumed: 0,
      head504: 0,
    };
    this.outcomes.push(outcome);
    const filename = Buffer.from(`faults-${this.outcomes.length}.mp4`).toString("base64");
    const created = await retrying(
      this.gateways,
      (base) =>
        call(base, "POST", "/api/v2/uploads", {
          headers: this.headers({ "upload-length": String(length), "upload-metadata": `filename ${filename}` }),
        }),
      (a) => a.status === 201,
    );
    if (created.status !== 201) {
      outcome.error = `create: ${created.status}`;
      return;
    }
    outcome.id = (created.body as { id: string }).id;
    const path = `/api/v2/uploads/${outcome.id}`;
    let offset = 0;
    const until = Date.now() + 120_000;
    for (let i = 0; offset < length; i++) {
      if (Date.now() > until) {
        outcome.error = `not complete after 120 s (offset ${offset} of ${length})`;
        return;
      }
      const base = this.gateways[i % this.gateways.length] as string;
      outcome.patches++;
      const started = Date.now();
      const res = await this.patch(base, path, offset);
      if (res.status === 204) {
        offset = res.offset;
        continue;
      }
      outcome.resumed++;
      if (this.killedAt !== undefined && this.killedAt >= started) {
        this.cuts.push({
          answeredMs: res.at - this.killedAt,
          status: res.status,
          ...(res.error ? { error: res.error } : {}),
        });
        this.killedAt = undefined;
      }
      // Where is media? HEAD until it answers (a restarting media is 503 for a moment).
      const head = await retrying(
        this.gateways,
        async (b) => {
          const a = await call(b, "HEAD", path, { headers: this.headers() });
          if (a.status === 504) outcome.head504++;
          return a;
        },
        (a) => a.status === 200 || a.status === 404,
        60_000,
        300,
      );
      if (head.status === 404) {
        // Gone as an upload: either it became the video (the last PATCH completed it and only its
        // answer was lost) — checked below by its sha256 — or it was lost, which the check reports.
        outcome.finishedUnanswered = true;
        break;
      }
      if (head.status !== 200) {
        outcome.error = `HEAD after a cut PATCH: ${head.status}`;
        return;
      }
      offset = Number(head.headers.get("upload-offset"));
    }
    // Complete: the video, with the sha256 media computed.
    const video = await retrying(
      this.gateways,
      (b) => call(b, "GET", `/api/v2/videos/${outcome.id}`, { bearer: this.bearer }),
      (a: HttpAnswer) => a.status === 200,
      30_000,
    );
    if (video.status !== 200) {
      outcome.error = `GET the video: ${video.status}`;
      return;
    }
    outcome.videoId = outcome.id;
    outcome.storedSha256 = (video.body as { sha256: string }).sha256;
  }

  /** One PATCH from `offset`, the body sent at `bytesPerSecond`; its status and Upload-Offset. */
  private patch(
    base: string,
    path: string,
    offset: number,
  ): Promise<{ status: number; offset: number; at: number; error?: string }> {
    return new Promise((resolve) => {
      const url = new URL(path, base);
      const body = this.file.subarray(offset);
      let answered = false;
      let at: number | undefined;
      const done = (status: number, newOffset: number, error?: string) => {
        if (answered) return;
        answered = true;
        this.inFlightBytes = undefined;
        resolve({ status, offset: newOffset, at: at ?? Date.now(), ...(error ? { error } : {}) });
      };
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "PATCH",
          headers: this.headers({
            "content-type": "application/offset+octet-stream",
            "upload-offset": String(offset),
            "content-length": String(body.length),
          }),
          timeout: 60_000,
        },
        (res) => {
          at = Date.now();
          res.resume();
          res.on("end", () => done(res.statusCode ?? 0, Number(res.headers["upload-offset"] ?? offset)));
          res.on("error", () => done(res.statusCode ?? 0, offset));
          req.destroy();
        },
      );
      req.on("error", (err: NodeJS.ErrnoException) => done(0, offset, err.code ?? err.message));
      req.on("timeout", () => req.destroy());
      this.inFlightBytes = 0;
      const piece = 32 * 1024;
      let sent = 0;
      const pump = () => {
        if (answered) return;
        if (sent >= body.length) {
          req.end();
          return;
        }
        const chunk = body.subarray(sent, sent + piece);
        sent += chunk.length;
        this.inFlightBytes = sent;
        req.write(chunk);
        setTimeout(pump, (chunk.length / this.bytesPerSecond) * 1000);
      };
      pump();
    });
  }
}

/** Analyses of videos uploaded with a transcript at the start, one per video, started on demand. */
export class Analyses {
  readonly ids: string[] = [];
  private readonly gateways: readonly string[];
  private readonly bearer: string;
  private readonly videoIds: readonly string[];

  constructor(gateways: readonly string[], bearer: string, videoIds: readonly string[]) {
    this.gateways = gateways;
    this.bearer = bearer;
    this.videoIds = videoIds;
  }

  /** Uploads a video and its WebVTT transcript; the video's id. */
  static async uploadVideo(gateways: readonly string[], bearer: string, video: Buffer, vtt: string): Promise<string> {
    const up = await retrying(
      gateways,
      async (base) => {
        try {
          const res = await fetch(`${base}/api/v2/videos?filename=analysed.mp4`, {
            method: "POST",
            headers: { authorization: `Bearer ${bearer}`, "content-type": "video/mp4" },
            body: video,
            signal: AbortSignal.timeout(30_000),
          });
          return { status: res.status, body: await res.json(), headers: res.headers };
        } catch {
          return { status: 0, body: undefined, headers: new Headers() };
        }
      },
      (a) => a.status === 201,
    );
    if (up.status !== 201) throw new Error(`uploading the analysed video: ${up.status}`);
    const id = (up.body as { id: string }).id;
    const put = await retrying(
      gateways,
      async (base) => {
        try {
          const res = await fetch(`${base}/api/v2/videos/${id}/transcript`, {
            method: "PUT",
            headers: { authorization: `Bearer ${bearer}`, "content-type": "text/vtt" },
            body: vtt,
            signal: AbortSignal.timeout(20_000),
          });
          return { status: res.status, body: await res.text(), headers: res.headers };
        } catch {
          return { status: 0, body: undefined, headers: new Headers() };
        }
      },
      (a) => a.status === 200,
    );
    if (put.status !== 200) throw new Error(`the analysed video's transcript: ${put.status}`);
    return id;
  }

  /**
   * Starts an analysis of the next video (of the last one again when all have one, after it
   * finished: one active analysis per video) and resolves once it is active, or after
   * `timeoutMs`: its id and whether it was seen active.
   */
  async startActive(timeoutMs: number): Promise<{ id: string | undefined; active: boolean }> {
    const videoId = this.videoIds[Math.min(this.ids.length, this.videoIds.length - 1)] as string;
    if (this.ids.length >= this.videoIds.length) await this.waitFinished(this.ids.at(-1) as string, 60_000);
    const started = await retrying(
      this.gateways,
      (base) =>
        call(base, "POST", "/api/v2/analyses", {
          bearer: this.bearer,
          json: {
            video_id: videoId,
            title: `faults ${this.ids.length + 1}`,
            num_questions: 3,
            keyframe_interval: 1,
          },
        }),
      (a) => a.status === 202 || a.status === 200,
    );
    if (started.status !== 202 && started.status !== 200) return { id: undefined, active: false };
    const id = (started.body as { id: string }).id;
    if (!this.ids.includes(id)) this.ids.push(id);
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const state = await this.state(id);
      if (state === "active") return { id, active: true };
      if (state && state !== "waiting") return { id, active: false };
      await sleep(100);
    }
    return { id, active: false };
  }

  async state(id: string): Promise<string | undefined> {
    const a = await call(this.gateways[0] as string, "GET", `/api/v2/analyses/${id}`, {
      bearer: this.bearer,
      timeoutMs: 5_000,
    });
    return a.status === 200 ? (a.body as { state: string }).state : undefined;
  }

  /** Waits until the analysis is completed, failed or cancelled; its last state seen. */
  async waitFinished(id: string, timeoutMs: number): Promise<string | undefined> {
    const until = Date.now() + timeoutMs;
    let state: string | undefined;
    while (Date.now() < until) {
      state = await this.state(id);
      if (state === "completed" || state === "failed" || state === "cancelled") return state;
      await sleep(500);
    }
    return state;
  }

  /** The analysis's events (SSE replay; the stream ends after the terminal event): how many of each kind. */
  async events(id: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const base of this.gateways) {
      try {
        const res = await fetch(`${base}/api/v2/analyses/${id}/events`, {
          headers: { authorization: `Bearer ${this.bearer}`, accept: "text/event-stream" },
          signal: AbortSignal.timeout(15_000),
        });
        if (res.status !== 200) continue;
        const text = await res.text();
        for (const line of text.split("\n")) {
          const m = /^event: ?(.+)$/.exec(line.trim());
          if (m) counts.set(m[1] as string, (counts.get(m[1] as string) ?? 0) + 1);
        }
        return counts;
      } catch {
        // try the next gateway
      }
    }
    counts.set("unreadable", 1);
    return counts;
  }
}
