import type { Engagement, TrackedVideo } from "@trellis/contracts";
import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";

/** One tracked video (collection `tracked_videos`), keyed by its canonical URL. */
export interface TrackedVideoDoc {
  _id: string;
  youtubeId: string | null;
  title: string | null;
  trackedAt: Date;
  trackedBy: string;
  views: number;
  answers: number;
  correct: number;
  /** Per question id (a safe field name: `QuestionId`): answers and correct ones. */
  questions: Record<string, { answers: number; correct: number }>;
}

const rate = (correct: number, answers: number): number | null => (answers === 0 ? null : correct / answers);

/** The engagement view of a stored document. */
export function engagementOf(doc: TrackedVideoDoc): Engagement {
  return {
    url: doc._id,
    title: doc.title,
    views: doc.views,
    answersSubmitted: doc.answers,
    correctRate: rate(doc.correct, doc.answers),
    perQuestion: Object.entries(doc.questions ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([questionId, q]) => ({ questionId, answers: q.answers, correctRate: rate(q.correct, q.answers) })),
  };
}

export const trackedVideoView = (doc: TrackedVideoDoc): TrackedVideo => ({
  url: doc._id,
  youtubeId: doc.youtubeId,
  title: doc.title,
  trackedAt: doc.trackedAt.toISOString(),
});

/**
 * Tracked videos and their engagement counters (the canonical URL is `_id`, so it is unique
 * without another index). Every counter changes by `$inc` on the one
 * document, so any number of analysis instances count without losing an update.
 */
export class TrackedVideosStore {
  private readonly videos: Collection<TrackedVideoDoc>;

  constructor(db: Db) {
    this.videos = db.collection<TrackedVideoDoc>("tracked_videos");
  }

  /** False when the URL is tracked already. */
  async add(doc: TrackedVideoDoc): Promise<boolean> {
    try {
      await this.videos.insertOne(doc);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  get(url: string): Promise<TrackedVideoDoc | null> {
    return this.videos.findOne({ _id: url });
  }

  /** The view count after this view, or null when the URL is not tracked. */
  async recordView(url: string): Promise<number | null> {
    const doc = await this.videos.findOneAndUpdate({ _id: url }, { $inc: { views: 1 } }, { returnDocument: "after" });
    return doc ? doc.views : null;
  }

  /** Counts one graded answer; the document after it, or null when the URL is not tracked. */
  recordAnswer(url: string, questionId: string, correct: boolean): Promise<TrackedVideoDoc | null> {
    const c = correct ? 1 : 0;
    return this.videos.findOneAndUpdate(
      { _id: url },
      {
        $inc: {
          answers: 1,
          correct: c,
          [`questions.${questionId}.answers`]: 1,
          [`questions.${questionId}.correct`]: c,
        },
      },
      { returnDocument: "after" },
    );
  }
}
