import { randomUUID } from "node:crypto";
import { type analysisUrlCatalog, parseVideoUrl, TrellisError, urlVideoId } from "@trellis/contracts";
import { EgressRefusedError, type Handlers } from "@trellis/runtime";
import type { AnalysisContext } from "../context.ts";
import { createAndEnqueue } from "./start.ts";

/**
 * Refuses up front (403 `forbidden`, with the reason) a URL whose host is or resolves to an address
 * the egress policy forbids, rather than a job that fails. A name that does not resolve now is left
 * to the job (which retries transient failures); the job's egress proxy checks every connection
 * again anyway, redirects included.
 */
async function checkEgress(t: AnalysisContext, url: string): Promise<void> {
  try {
    await t.egress.checkUrl(url);
  } catch (err) {
    if (err instanceof EgressRefusedError) {
      throw new TrellisError("forbidden", `the URL cannot be fetched: ${err.message}`);
    }
    t.log.debug({ err, url }, "URL not resolvable when the analysis was started; left to the job");
  }
}

/**
 * Analyses of video URLs. The caller owns them (and the keyframes they store in media, as
 * pictures of the caller); the URL's video is the caller's own (`urlVideoId(owner, url)`), so
 * one analysis of a URL may be active per user, like one per uploaded video.
 */
export function urlAnalysisHandlers(t: AnalysisContext): Handlers<typeof analysisUrlCatalog> {
  return {
    async startUrl(req) {
      const actor = req.actor;
      if (actor.kind !== "user") throw new TrellisError("forbidden", "monitors cannot start analyses");
      const parsed = parseVideoUrl(req.url);
      if (!parsed.ok) throw new TrellisError("invalid_argument", parsed.reason);
      const { url, youtubeId } = parsed.value;
      await checkEgress(t, url);
      return createAndEnqueue(
        t,
        {
          id: randomUUID(),
          videoId: await urlVideoId(actor.userId, url),
          ownerId: actor.userId,
          title: req.title,
          url,
          ...(youtubeId ? { youtubeId } : {}),
          numQuestions: req.numQuestions,
          keyframeInterval: req.keyframeInterval,
        },
        actor,
      );
    },
  };
}
