import {
  type analysisCatalog,
  type Engagement,
  type Principal,
  parseVideoUrl,
  QuestionId,
  TrellisError,
  type UserPrincipal,
} from "@trellis/contracts";
import type { ServiceParts } from "@trellis/runtime";
import { engagementOf, type TrackedVideosStore, trackedVideoView } from "./store.ts";

type Handlers = ServiceParts<typeof analysisCatalog>["handlers"];
export type TrackedVideoHandlers = Pick<Handlers, "trackVideo" | "getEngagement" | "recordView" | "recordAnswer">;

/** Any authenticated user (learner or admin) may use tracked videos; a monitor may not. */
export function requireUser(actor: Principal): UserPrincipal {
  if (actor.kind !== "user") throw new TrellisError("forbidden", "only users can use tracked videos");
  return actor;
}

/** The canonical key of a URL, or `invalid_argument` (400) saying why it is refused. */
export function canonicalUrl(url: string): { url: string; youtubeId: string | null } {
  const parsed = parseVideoUrl(url);
  if (!parsed.ok) throw new TrellisError("invalid_argument", parsed.reason);
  return parsed.value;
}

const notTracked = () => new TrellisError("not_found", "URL not found");

/**
 * Counts one graded answer to a question of a tracked video: the function the answers pipeline
 * calls in-process (the `recordAnswer` endpoint is the same over NATS). `not_found` when the URL
 * is not tracked.
 */
export async function recordAnswer(
  store: TrackedVideosStore,
  url: string,
  questionId: string,
  correct: boolean,
): Promise<Engagement> {
  const key = canonicalUrl(url).url;
  const id = QuestionId.safeParse(questionId);
  if (!id.success) throw new TrellisError("invalid_argument", `questionId ${id.error.issues[0]?.message ?? "invalid"}`);
  const doc = await store.recordAnswer(key, id.data, correct);
  if (!doc) throw notTracked();
  return engagementOf(doc);
}

export function trackedVideoHandlers(store: TrackedVideosStore): TrackedVideoHandlers {
  return {
    async trackVideo({ actor, url, title }) {
      const user = requireUser(actor);
      const key = canonicalUrl(url);
      const doc = {
        _id: key.url,
        youtubeId: key.youtubeId,
        title: title ?? null,
        trackedAt: new Date(),
        trackedBy: user.userId,
        views: 0,
        answers: 0,
        correct: 0,
        questions: {},
      };
      // Seed 001 `add_URL`: a URL already tracked is a 400.
      if (!(await store.add(doc))) throw new TrellisError("invalid_argument", "URL already exists");
      return trackedVideoView(doc);
    },
    async getEngagement({ actor, url }) {
      requireUser(actor);
      const doc = await store.get(canonicalUrl(url).url);
      if (!doc) throw notTracked();
      return engagementOf(doc);
    },
    async recordView({ actor, url }) {
      requireUser(actor);
      const key = canonicalUrl(url).url;
      const views = await store.recordView(key);
      if (views === null) throw notTracked();
      return { url: key, views };
    },
    async recordAnswer({ actor, url, questionId, correct }) {
      requireUser(actor);
      return recordAnswer(store, url, questionId, correct);
    },
  };
}
