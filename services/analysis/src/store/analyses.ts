import type { Analysis, AnalysisError, AnalysisProgress, AnalysisState, Question } from "@trellis/contracts";
import { duplicateIndexes, GroupCommit } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";

interface AnalysisDoc {
  _id: string;
  videoId: string;
  ownerId: string;
  title: string;
  /** A URL analysis's canonical URL (and YouTube id). */
  url?: string;
  youtubeId?: string;
  numQuestions: number;
  keyframeInterval: number;
  state: AnalysisState;
  progress: AnalysisProgress;
  error?: AnalysisError;
  keyframeIds: string[];
  questionCount: number;
  /** What wrote the questions (`offline` or `llm:<model>`), once completed. */
  generator?: string;
  attempts: number;
  /** Set by a cancel: a worker that picks the job up (or reaches its next step) stops. */
  cancelRequested: boolean;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** Missing on analyses stored before sharing existed: not shared. */
  shared?: boolean;
  /** The tracked video (canonical URL) its answers count into. */
  trackedUrl?: string | null;
}

/** The analysis holding a video: exists exactly while one is waiting or active (`_id` is the video id). */
interface ActiveDoc {
  _id: string;
  analysisId: string;
}

type QuestionDoc = Omit<Question, "id"> & { _id: string };

const view = (d: AnalysisDoc): Analysis => ({
  id: d._id,
  videoId: d.videoId,
  ownerId: d.ownerId,
  title: d.title,
  ...(d.url ? { url: d.url } : {}),
  ...(d.youtubeId ? { youtubeId: d.youtubeId } : {}),
  numQuestions: d.numQuestions,
  keyframeInterval: d.keyframeInterval,
  state: d.state,
  progress: d.progress,
  ...(d.error ? { error: d.error } : {}),
  keyframeIds: d.keyframeIds,
  questionCount: d.questionCount,
  ...(d.generator ? { generator: d.generator } : {}),
  attempts: d.attempts,
  createdAt: d.createdAt.toISOString(),
  ...(d.startedAt ? { startedAt: d.startedAt.toISOString() } : {}),
  ...(d.finishedAt ? { finishedAt: d.finishedAt.toISOString() } : {}),
  shared: d.shared ?? false,
  trackedUrl: d.trackedUrl ?? null,
});

/** What a start records: the analysis's id and the fields its caller chose. */
export type NewAnalysis = { id: string } & Pick<
  AnalysisDoc,
  "videoId" | "ownerId" | "title" | "url" | "youtubeId" | "numQuestions" | "keyframeInterval"
>;

/** One start waiting for its group commit. */
interface Start {
  a: NewAnalysis;
  now: Date;
}

export type CreateOutcome = { created: true; analysis: Analysis } | { created: false; id: string };

const newDoc = (a: NewAnalysis, now: Date): AnalysisDoc => ({
  _id: a.id,
  videoId: a.videoId,
  ownerId: a.ownerId,
  title: a.title,
  ...(a.url ? { url: a.url } : {}),
  ...(a.youtubeId ? { youtubeId: a.youtubeId } : {}),
  numQuestions: a.numQuestions,
  keyframeInterval: a.keyframeInterval,
  state: "waiting",
  progress: { stage: "queued", percent: 0 },
  keyframeIds: [],
  questionCount: 0,
  attempts: 0,
  cancelRequested: false,
  createdAt: now,
  shared: false,
  trackedUrl: null,
});

/** Analyses, the one-active-per-video locks and the generated questions (`trellis_analysis`). */
export class AnalysesStore {
  private readonly analyses: Collection<AnalysisDoc>;
  private readonly active: Collection<ActiveDoc>;
  private readonly questions: Collection<QuestionDoc>;
  private readonly starts = new GroupCommit<Start, CreateOutcome>((items) => this.createMany(items));

  constructor(db: Db) {
    this.analyses = db.collection("analyses");
    this.active = db.collection("active_videos");
    this.questions = db.collection("questions");
  }

  async ensureIndexes(): Promise<void> {
    await this.analyses.createIndex({ videoId: 1, createdAt: -1 });
    await this.analyses.createIndex({ ownerId: 1, createdAt: -1 });
    await this.questions.createIndex({ analysisId: 1, timestampMs: 1 });
  }

  /**
   * Creates a waiting analysis unless one is waiting or active for the video: then that one's id
   * (the lock is the `_id` of `active_videos`, so two concurrent starts cannot both win). Starts
   * arriving together share one lock insert and one analysis insert (group commit).
   */
  create(a: NewAnalysis, now: Date): Promise<CreateOutcome> {
    return this.starts.submit({ a, now });
  }

  private async createMany(starts: Start[]): Promise<CreateOutcome[]> {
    // One candidate per video; later starts of the same video in the batch answer with its outcome.
    const byVideo = new Map<string, Start>();
    for (const start of starts) if (!byVideo.has(start.a.videoId)) byVideo.set(start.a.videoId, start);
    const candidates = [...byVideo.values()];
    let held: number[] = []; // candidates whose video another analysis holds
    try {
      await this.active.insertMany(
        candidates.map(({ a }) => ({ _id: a.videoId, analysisId: a.id })),
        { ordered: false },
      );
    } catch (err) {
      try {
        held = duplicateIndexes(err);
      } catch {
        await this.releaseLocks(candidates.map(({ a }) => a));
        throw err;
      }
    }
    const winners = candidates.filter((_, k) => !held.includes(k));
    const docs = winners.map(({ a, now }) => newDoc(a, now));
    if (docs.length > 0) {
      try {
        await this.analyses.insertMany(docs);
      } catch (err) {
        await this.releaseLocks(winners.map(({ a }) => a));
        throw err;
      }
    }
    const outcomes = new Map<string, CreateOutcome>(); // by video id
    for (const d of docs) outcomes.set(d.videoId, { created: true, analysis: view(d) });
    await Promise.all(
      held.map(async (k) => {
        const start = candidates[k] as Start;
        const holder = await this.active.findOne({ _id: start.a.videoId });
        // Released between the insert and this read: try again on its own (directly: going through
        // `starts` would wait for this very batch).
        outcomes.set(
          start.a.videoId,
          holder ? { created: false, id: holder.analysisId } : ((await this.createMany([start]))[0] as CreateOutcome),
        );
      }),
    );
    return starts.map((start) => {
      const outcome = outcomes.get(start.a.videoId) as CreateOutcome;
      if (byVideo.get(start.a.videoId) === start) return outcome;
      return { created: false, id: outcome.created ? outcome.analysis.id : outcome.id };
    });
  }

  /**
   * Undoes the locks of a batch that could not be written whole (else their videos stay held).
   * Only locks these analyses hold are deleted, so passing ones that never got theirs is harmless.
   */
  private async releaseLocks(of: NewAnalysis[]): Promise<void> {
    await Promise.all(of.map((a) => this.active.deleteOne({ _id: a.videoId, analysisId: a.id }))).catch(() => {});
  }

  async get(id: string): Promise<Analysis | null> {
    const d = await this.analyses.findOne({ _id: id });
    return d ? view(d) : null;
  }

  async cancelRequested(id: string): Promise<boolean> {
    const d = await this.analyses.findOne({ _id: id }, { projection: { cancelRequested: 1 } });
    return d?.cancelRequested ?? false;
  }

  async requestCancel(id: string): Promise<void> {
    await this.analyses.updateOne({ _id: id }, { $set: { cancelRequested: true } });
  }

  async list(filter: { videoId?: string; ownerId?: string }, limit: number): Promise<Analysis[]> {
    const q: Partial<Pick<AnalysisDoc, "videoId" | "ownerId">> = {};
    if (filter.videoId) q.videoId = filter.videoId;
    if (filter.ownerId) q.ownerId = filter.ownerId;
    const docs = await this.analyses.find(q).sort({ createdAt: -1 }).limit(limit).toArray();
    return docs.map(view);
  }

  /** A worker took the job (again): active, with its attempt number. Null when it is already finished. */
  async markActive(id: string, attempt: number, now: Date): Promise<Analysis | null> {
    const d = await this.analyses.findOneAndUpdate(
      { _id: id, state: { $in: ["waiting", "active"] } },
      { $set: { state: "active", startedAt: now, attempts: attempt, progress: { stage: "transcript", percent: 0 } } },
      { returnDocument: "after" },
    );
    return d ? view(d) : null;
  }

  async setProgress(id: string, progress: AnalysisProgress): Promise<void> {
    await this.analyses.updateOne({ _id: id, state: "active" }, { $set: { progress } });
  }

  async addKeyframe(id: string, pictureId: string): Promise<void> {
    await this.analyses.updateOne({ _id: id }, { $push: { keyframeIds: pictureId } });
  }

  /** The keyframes in video order (they are added as their uploads finish, in any order). */
  async setKeyframes(id: string, pictureIds: readonly string[]): Promise<void> {
    await this.analyses.updateOne({ _id: id }, { $set: { keyframeIds: [...pictureIds] } });
  }

  async clearKeyframes(id: string): Promise<void> {
    await this.analyses.updateOne({ _id: id }, { $set: { keyframeIds: [] } });
  }

  /** Back to waiting before a retry (a transient failure). */
  async markRetrying(id: string, error: AnalysisError): Promise<void> {
    await this.analyses.updateOne(
      { _id: id, state: "active" },
      { $set: { state: "waiting", error, progress: { stage: "queued", percent: 0 } } },
    );
  }

  /**
   * Moves an unfinished analysis to a final state and releases its video. Returns false when it
   * was already finished (the first final state wins).
   */
  async finish(
    id: string,
    state: "completed" | "failed" | "cancelled",
    now: Date,
    extra: { error?: AnalysisError; questionCount?: number; progress?: AnalysisProgress; generator?: string } = {},
  ): Promise<boolean> {
    const set: Partial<AnalysisDoc> = { state, finishedAt: now };
    if (extra.error) set.error = extra.error;
    if (extra.questionCount !== undefined) set.questionCount = extra.questionCount;
    if (extra.progress) set.progress = extra.progress;
    if (extra.generator) set.generator = extra.generator;
    const d = await this.analyses.findOneAndUpdate(
      { _id: id, state: { $in: ["waiting", "active"] } },
      { $set: set, ...(state === "completed" ? { $unset: { error: "" } } : {}) },
      { returnDocument: "after" },
    );
    if (!d) return false;
    await this.active.deleteOne({ _id: d.videoId, analysisId: id });
    return true;
  }

  async saveQuestions(analysisId: string, questions: readonly Question[]): Promise<void> {
    await this.questions.deleteMany({ analysisId });
    if (questions.length > 0) await this.questions.insertMany(questions.map(({ id, ...q }) => ({ _id: id, ...q })));
  }

  async questionsOf(analysisId: string): Promise<Question[]> {
    const docs = await this.questions.find({ analysisId }).sort({ timestampMs: 1 }).toArray();
    return docs.map(({ _id, ...q }) => ({ id: _id, ...q }));
  }

  async getQuestion(id: string): Promise<Question | null> {
    const d = await this.questions.findOne({ _id: id });
    if (!d) return null;
    const { _id, ...q } = d;
    return { id: _id, ...q };
  }

  /** Sets the owner's sharing choices; the analysis after, or null when it is gone. */
  async setSharing(id: string, change: { shared?: boolean; trackedUrl?: string | null }): Promise<Analysis | null> {
    const set: Partial<AnalysisDoc> = {};
    if (change.shared !== undefined) set.shared = change.shared;
    if (change.trackedUrl !== undefined) set.trackedUrl = change.trackedUrl;
    const d = await this.analyses.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: "after" });
    return d ? view(d) : null;
  }

  /** Every analysis of a video, or of every video of an owner (for the delete cascade). */
  async allOf(filter: { videoId: string } | { ownerId: string }): Promise<Analysis[]> {
    const docs = await this.analyses.find(filter).toArray();
    return docs.map(view);
  }

  /** Removes an analysis for good: its questions, its record and its video's lock if it holds it. */
  async remove(a: Pick<Analysis, "id" | "videoId">): Promise<void> {
    await this.questions.deleteMany({ analysisId: a.id });
    await this.active.deleteOne({ _id: a.videoId, analysisId: a.id });
    await this.analyses.deleteOne({ _id: a.id });
  }
}
