/**
 * Teachers and learners in the web console (issue 20), in Debian's chromium against the real
 * auth, media and analysis services: a tus upload interrupted by a page reload and resumed from
 * the server's offset, an analysis followed to completion on its live progress bar and another
 * cancelled mid-run, sharing the quiz, a learner whose video stops at each question's timestamp
 * (answer, grading, explanation, own results), and the teacher's engagement figures. axe-core on
 * every page; a screenshot of each in artifacts/console-screenshots/.
 *
 * ffmpeg reads the video at 4× real time (FFMPEG_READ_RATE), so an analysis of the 40 s video
 * spends about 10 s extracting keyframes: long enough to watch its progress and to cancel one.
 */

import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Question } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import type { Browser, BrowserContext, Page, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factsVtt } from "../support/analysis.ts";
import { launch, login, newPage, startSlowly, type VideoLike, visit } from "../support/browser.ts";
import { type Account, http, type Platform, registerUser } from "../support/platform.ts";
import { testVideo } from "../support/video.ts";

/** tus-js-client's chunk in the console (videos.tsx): one PATCH each. */
const CHUNK = 1024 * 1024;

const stack = useFileStack();
let platform: Platform;
let browser: Browser;
let teacher: Account;
let learner: Account;
let context: BrowserContext;
let page: Page;
let problems: string[];
let videoFile: string;
let videoBytes: Buffer;
let videoId: string;
let analysisId: string;
/** The two questions the learner answers: the first right, the second wrong. */
let asked: [Question, Question];
const tmp = mkdtempSync(join(tmpdir(), "trellis-learning-"));

const url = (path: string) => `${platform.base}/console${path}`;
const isPatch = (r: { method(): string; url(): string }) => r.method() === "PATCH" && r.url().includes("/uploads/");

beforeAll(async () => {
  platform = await startSlowly(stack, ["auth", "media", "analysis"], { FFMPEG_READ_RATE: "4" });
  [teacher, learner] = await Promise.all([
    registerUser(platform.base, platform.suffix, "teacher"),
    registerUser(platform.base, platform.suffix, "learner"),
  ]);
  // About 6 MB: six chunks, so an upload can be cut after the first.
  videoBytes = testVideo({ seconds: 40, pattern: "testsrc2", size: "640x360", noisy: true });
  videoFile = join(tmp, "lesson.mp4");
  writeFileSync(videoFile, videoBytes);
  writeFileSync(join(tmp, "lesson.vtt"), factsVtt(4));
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  ({ page, problems } = await newPage(context));
});

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("teachers in the console", () => {
  it("resumes a tus upload after a page reload from the server's offset, and the video arrives whole", async () => {
    expect(videoBytes.length).toBeGreaterThan(4 * CHUNK);
    await login(page, platform.base, teacher.username, teacher.password, "/videos");
    await page.getByRole("heading", { name: "Videos" }).waitFor();
    await visit(page, "09-videos");

    // The connection "drops" after the first chunk: the second PATCH is held until the reload.
    let patches = 0;
    let release = () => {};
    await page.route("**/api/v2/uploads/**", async (route: Route) => {
      if (!isPatch(route.request())) return route.continue();
      patches += 1;
      if (patches === 1) return route.continue();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      await route.abort().catch(() => undefined);
    });
    const firstChunk = page.waitForResponse((r) => isPatch(r.request()));
    await page.getByLabel("Video file").setInputFiles(videoFile);
    await page.getByLabel(/Transcript/).setInputFiles(join(tmp, "lesson.vtt"));
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    expect((await firstChunk).status()).toBe(204);
    await expect.poll(() => patches).toBe(2);

    // The server holds the first chunk; the browser remembers the upload's URL (not the token).
    const stored = (await page.evaluate(
      "Object.entries(localStorage).filter(([k]) => k.startsWith('tus::')).map(([, v]) => JSON.parse(v))",
    )) as { uploadUrl: string; size: number }[];
    expect(stored).toHaveLength(1);
    expect(stored[0]?.size).toBe(videoBytes.length);
    // As the server's Location said it: a path on the gateway.
    const uploadUrl = new URL(stored[0]?.uploadUrl as string, platform.base);
    const head = await fetch(uploadUrl, {
      method: "HEAD",
      headers: { authorization: `Bearer ${teacher.bearer}`, "tus-resumable": "1.0.0" },
    });
    const serverOffset = Number(head.headers.get("upload-offset"));
    expect(serverOffset).toBe(CHUNK);

    await page.reload();
    release();
    await page.unrouteAll({ behavior: "ignoreErrors" });
    await page.getByText("Unfinished uploads").waitFor();
    await page.getByText(/lesson\.mp4 \(\d+\.\d MB/).waitFor();
    await visit(page, "10-upload-interrupted");

    // Chosen again: tus-js-client finds it by fingerprint, asks the server's offset, goes on from there.
    const sent: { offset: number; method: string }[] = [];
    let lastOffset = 0;
    page.on("request", (r) => {
      if (r.url().includes("/api/v2/uploads"))
        sent.push({ method: r.method(), offset: Number(r.headers()["upload-offset"]) });
    });
    page.on("response", (r) => {
      if (isPatch(r.request())) lastOffset = Math.max(lastOffset, Number(r.headers()["upload-offset"]));
    });
    await page.getByLabel("Video file").setInputFiles(videoFile);
    await page.getByLabel(/Transcript/).setInputFiles(join(tmp, "lesson.vtt"));
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await page.getByRole("link", { name: "lesson.mp4" }).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("upload-percent").textContent()).toBe("100%");
    expect(await page.getByTestId("upload-status").textContent()).toBe("done");
    expect(
      sent.filter((r) => r.method === "POST"),
      "no new upload was created",
    ).toEqual([]);
    const resumedPatches = sent.filter((r) => r.method === "PATCH");
    expect(resumedPatches[0]?.offset, "the first PATCH after the reload starts at the server's offset").toBe(
      serverOffset,
    );
    expect(lastOffset).toBe(videoBytes.length);
    const bytesAfterReload = lastOffset - serverOffset;
    expect(bytesAfterReload).toBeLessThan(videoBytes.length);
    process.stderr.write(
      `console: tus resumed at ${serverOffset} of ${videoBytes.length} bytes; ${bytesAfterReload} sent after the reload\n`,
    );
    await page.getByText("Unfinished uploads").waitFor({ state: "detached" });
    await visit(page, "11-upload-resumed");

    // Whole and right: media's checksum is the file's.
    const listed = await http(platform.base, "GET", `/api/v2/videos?user_id=${teacher.id}`, { bearer: teacher.bearer });
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({
      filename: "lesson.mp4",
      size: videoBytes.length,
      sha256: createHash("sha256").update(videoBytes).digest("hex"),
      hasTranscript: true,
    });
    videoId = listed.body.items[0].id;
  });

  it("follows an analysis to completion on its live progress bar, and cancels another mid-run", async () => {
    await page.getByRole("link", { name: "lesson.mp4" }).click();
    const player = page.getByTestId("player");
    await player.waitFor();
    await expect
      .poll(() => player.evaluate((v: VideoLike) => v.readyState), { timeout: 45_000 })
      .toBeGreaterThanOrEqual(1);
    expect(await player.evaluate((v: VideoLike) => Math.round(v.duration))).toBe(40);
    // Every progress value each analysis's bar shows, as the page shows them.
    await page.evaluate(`(() => {
      window.__progress = {};
      const look = () => {
        for (const el of document.querySelectorAll('[data-testid="analysis-progress"]')) {
          const id = el.closest("[data-analysis]")?.getAttribute("data-analysis");
          const seen = (window.__progress[id] ??= []);
          const p = Number(el.getAttribute("data-percent"));
          if (seen[seen.length - 1] !== p) seen.push(p);
        }
      };
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    })()`);
    const progressOf = async (id: string) =>
      ((await page.evaluate("window.__progress")) as Record<string, number[]>)[id] ?? [];

    await page.getByRole("button", { name: "Start analysis" }).click();
    const card = page.locator("[data-analysis]").first();
    await card.waitFor();
    analysisId = (await card.getAttribute("data-analysis")) as string;
    const percent = () => card.getByTestId("analysis-progress").getAttribute("data-percent").then(Number);
    await expect.poll(percent, { timeout: 30_000 }).toBeGreaterThan(0);
    await visit(page, "12-analysis-progress");
    await page.locator(`[data-analysis="${analysisId}"][data-state="completed"]`).waitFor({ timeout: 90_000 });
    const seen = await progressOf(analysisId);
    process.stderr.write(`console: analysis progress seen live: ${seen.join(", ")}\n`);
    expect(seen.filter((p) => p > 0 && p < 100).length, seen.join(",")).toBeGreaterThanOrEqual(2);
    expect(
      [...seen].sort((a, b) => a - b),
      "never backwards",
    ).toEqual(seen);

    // Another one, cancelled while ffmpeg is extracting its keyframes.
    await page.getByRole("button", { name: "Start analysis" }).click();
    const other = page.locator(`[data-analysis]:not([data-analysis="${analysisId}"])`).first();
    await other.waitFor();
    const cancelledId = (await other.getAttribute("data-analysis")) as string;
    await expect
      .poll(() => other.getByTestId("analysis-progress").getAttribute("data-percent").then(Number), {
        timeout: 30_000,
      })
      .toBeGreaterThan(0);
    await other.getByRole("button", { name: "Cancel the analysis lesson.mp4" }).click();
    await page.locator(`[data-analysis="${cancelledId}"][data-state="cancelled"]`).waitFor();
    await visit(page, "14-analysis-cancelled");
    const cancelled = await http(platform.base, "GET", `/api/v2/analyses/${cancelledId}`, { bearer: teacher.bearer });
    expect(cancelled.body).toMatchObject({ state: "cancelled", questionCount: 0 });
    expect(cancelled.body.startedAt, "it was running when cancelled").toBeTruthy();
  });

  it("reviews the questions by their keyframes, seeks the player, and shares the quiz as a tracked video", async () => {
    const card = page.locator(`[data-analysis="${analysisId}"]`);
    await card.getByRole("button", { name: "Show questions" }).click();
    const first = card.locator(".question").first();
    await first.waitFor();
    await expect
      .poll(() => first.locator("img").evaluate((i: { naturalWidth: number }) => i.naturalWidth))
      .toBeGreaterThan(0);
    const player = page.getByTestId("player");
    const stamp = first.getByRole("button", { name: /^\d+:\d\d$/ });
    const [m, s] = ((await stamp.textContent()) as string).split(":").map(Number) as [number, number];
    await stamp.click();
    await expect.poll(() => player.evaluate((v: VideoLike) => Math.round(v.currentTime))).toBe(m * 60 + s);

    await card.getByRole("button", { name: "Share with learners" }).click();
    await card.getByRole("link", { name: new RegExp(`/console/quiz/${analysisId}`) }).waitFor();
    const engagement = card.getByTestId("engagement");
    await engagement.locator('[data-figure="views"]').waitFor();
    expect(await engagement.locator('dd[data-figure="answers"]').textContent()).toBe("0");
    await visit(page, "15-video-questions-shared");
    const shared = await http(platform.base, "GET", `/api/v2/analyses/${analysisId}`, { bearer: teacher.bearer });
    expect(shared.body).toMatchObject({ shared: true, trackedUrl: url(`/quiz/${analysisId}`) });

    const all = await http(platform.base, "GET", `/api/v2/analyses/${analysisId}/questions`, {
      bearer: teacher.bearer,
    });
    const questions = (all.body.items as Question[]).sort((a, b) => a.timestampMs - b.timestampMs);
    // Two questions well inside the video and apart, so playing up to one does not reach the other.
    const q1 = questions.find((q) => q.timestampMs >= 3000);
    const q2 = questions.find((q) => q1 && q.timestampMs >= q1.timestampMs + 3000);
    expect(q1 && q2, JSON.stringify(questions.map((q) => q.timestampMs))).toBeTruthy();
    asked = [q1, q2] as [Question, Question];
    expect(problems).toEqual([]);
  });
});

describe("learners in the console", () => {
  let lc: BrowserContext;
  let lp: Page;
  let lpProblems: string[];
  const videoStatuses: number[] = [];

  beforeAll(async () => {
    lc = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    lc.on("response", (r) => {
      if (r.url().endsWith(`/api/v2/analyses/${analysisId}/video`)) videoStatuses.push(r.status());
    });
    ({ page: lp, problems: lpProblems } = await newPage(lc));
  });
  afterAll(() => lc?.close());

  it("plays the shared video, which stops at each question's timestamp: answer, grading, explanation, results", async () => {
    await login(lp, platform.base, learner.username, learner.password, `/quiz/${analysisId}`);
    await lp.getByRole("heading", { name: "lesson.mp4", level: 1 }).waitFor();
    const player = lp.getByTestId("player");
    await expect
      .poll(() => player.evaluate((v: VideoLike) => v.readyState), { timeout: 45_000 })
      .toBeGreaterThanOrEqual(1);
    await visit(lp, "16-quiz");
    const total = (await lp
      .getByRole("list", { name: "Questions in the video" })
      .getByRole("button")
      .count()) as number;

    for (const [i, q] of asked.entries()) {
      const right = i === 0;
      // From 1.5 s before the question, by the page's own play button (a user gesture).
      await player.evaluate(
        (v: VideoLike, at: number) => {
          v.currentTime = at;
        },
        (q.timestampMs - 1500) / 1000,
      );
      await expect.poll(() => player.evaluate((v: VideoLike) => v.seeking)).toBe(false);
      await lp.getByRole("button", { name: "Play / pause" }).click();
      const panel = lp.locator(`section[data-question="${q.id}"]`);
      await panel.waitFor({ timeout: 15_000 });
      const stoppedAt = await player.evaluate((v: VideoLike) => ({ paused: v.paused, ms: v.currentTime * 1000 }));
      expect(stoppedAt.paused, "the video pauses for the question").toBe(true);
      expect(stoppedAt.ms).toBeGreaterThanOrEqual(q.timestampMs);
      expect(stoppedAt.ms, "at the question's timestamp").toBeLessThan(q.timestampMs + 750);
      // The question has the focus (keyboard and screen-reader users land on it).
      expect(await lp.evaluate("document.activeElement?.id")).toBe("question-heading");
      await panel.getByText(q.text).waitFor();
      if (i === 0) await visit(lp, "17-quiz-question");

      const answer = right
        ? q.answer
        : q.kind === "multiple_choice"
          ? (q.options.find((o) => o !== q.answer) as string)
          : `not ${q.answer}`;
      if (q.kind === "multiple_choice") await panel.getByRole("radio", { name: answer, exact: true }).check();
      else await panel.getByLabel("Your answer").fill(answer);
      await panel.getByRole("button", { name: "Answer", exact: true }).click();
      const status = panel.getByRole("status");
      await expect.poll(() => status.textContent()).toMatch(right ? /^Correct/ : /^Incorrect: the answer is /);
      if (!right) expect(await status.textContent()).toContain(`the answer is ${q.answer}`);
      await status.getByText(q.explanation).waitFor();
      if (i === 0) await visit(lp, "18-quiz-answered");
      await panel.getByRole("button", { name: "Continue the video" }).click();
      await expect.poll(() => player.evaluate((v: VideoLike) => v.paused)).toBe(false);
      await lp.getByRole("button", { name: "Play / pause" }).click();
      await expect.poll(() => player.evaluate((v: VideoLike) => v.paused)).toBe(true);
    }

    // Their own results, as the API has them.
    const mine = await http(platform.base, "GET", `/api/v2/analyses/${analysisId}/my-answers`, {
      bearer: learner.bearer,
    });
    expect(mine.body).toMatchObject({ answered: 2, correct: 1, total });
    await expect
      .poll(() => lp.getByTestId("quiz-score").textContent())
      .toBe(`2 of ${total} answered · 1 correct · score ${Math.round((1 / total) * 100)}%`);
    const results = lp.getByRole("list", { name: "Your answers" }).getByRole("listitem");
    expect(await results.count()).toBe(2);
    const timeline = lp.getByRole("list", { name: "Questions in the video" });
    expect(await timeline.getByRole("button", { name: /answered, correct$/ }).count()).toBe(1);
    expect(await timeline.getByRole("button", { name: /answered, incorrect$/ }).count()).toBe(1);
    await visit(lp, "19-quiz-results");

    // From the timeline: a question not answered opens at its time; "Answer later" goes on without it.
    const all = await http(platform.base, "GET", `/api/v2/analyses/${analysisId}/questions`, {
      bearer: learner.bearer,
    });
    const order = (all.body.items as Question[]).sort((a, b) => a.timestampMs - b.timestampMs);
    const later = order.findIndex((q) => !asked.some((a) => a.id === q.id));
    const laterQ = order[later] as Question;
    await timeline.getByRole("button", { name: `Question ${later + 1} at ` }).click();
    const laterPanel = lp.locator(`section[data-question="${laterQ.id}"]`);
    await laterPanel.waitFor();
    await expect
      .poll(() => player.evaluate((v: VideoLike) => Math.round(v.currentTime * 1000)))
      .toBe(laterQ.timestampMs);
    await laterPanel.getByRole("button", { name: "Answer later" }).click();
    await laterPanel.waitFor({ state: "detached" });
    await expect.poll(() => player.evaluate((v: VideoLike) => v.paused)).toBe(false);
    await lp.waitForTimeout(500);
    expect(await lp.locator("section[data-question]").count(), "not asked again at once").toBe(0);
    await lp.getByRole("button", { name: "Play / pause" }).click();
    expect(await timeline.getByRole("button", { name: /not answered$/ }).count()).toBe(total - 2);
    // The player seeked through Range requests of the learners' video route.
    expect(videoStatuses, "a 206 for the video").toContain(206);

    await lp.setViewportSize({ width: 390, height: 844 });
    const overflow = await lp.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await visit(lp, "20-quiz-phone");
    expect(lpProblems).toEqual([]);
  });

  it("shows the teacher the engagement: views, answers, correct rate, learners per question", async () => {
    await page.goto(url(`/videos/${videoId}`));
    const card = page.locator(`[data-analysis="${analysisId}"]`);
    await card.getByRole("button", { name: "Show questions" }).click();
    const engagement = card.getByTestId("engagement");
    const figure = (name: string) => engagement.locator(`dd[data-figure="${name}"]`).textContent();
    await engagement.locator('dd[data-figure="views"]').waitFor();
    await expect
      .poll(async () => {
        await engagement.getByRole("button", { name: "Refresh figures" }).click();
        return figure("answers");
      })
      .toBe("2");
    expect(await figure("views")).toBe("1");
    expect(await figure("correct-rate")).toBe("50%");
    expect(await figure("learners")).toBe("1");
    const row = (q: Question) => engagement.locator(`tr[data-engagement="${q.id}"]`);
    const [q1, q2] = asked;
    expect(await row(q1).locator('[data-figure="learners"]').textContent()).toBe("1");
    expect(await row(q1).locator('[data-figure="correct-rate"]').textContent()).toBe("100%");
    expect(await row(q2).locator('[data-figure="learners"]').textContent()).toBe("1");
    expect(await row(q2).locator('[data-figure="correct-rate"]').textContent()).toBe("0%");
    const api = await http(
      platform.base,
      "GET",
      `/api/v2/tracked-videos?url=${encodeURIComponent(url(`/quiz/${analysisId}`))}`,
      { bearer: teacher.bearer },
    );
    expect(api.body).toMatchObject({ views: 1, answersSubmitted: 2, correctRate: 0.5 });
    await visit(page, "21-engagement");
    expect(problems).toEqual([]);
  });
});
