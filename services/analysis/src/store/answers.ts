import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";

/** A learner's answer to a question (collection `answers`): one per user and question, `_id` `<questionId>:<userId>`. */
export interface AnswerDoc {
  _id: string;
  questionId: string;
  analysisId: string;
  userId: string;
  answer: string;
  correct: boolean;
  answeredAt: Date;
  /**
   * Whether it has been counted into the linked tracked video's engagement (claimed before
   * counting). An answer given while the analysis was linked to none starts out counted: answers
   * count into the video linked when they are given, never later.
   */
  counted: boolean;
}

export type NewAnswer = Omit<AnswerDoc, "_id">;

const idOf = (questionId: string, userId: string) => `${questionId}:${userId}`;

/** Learners' answers. The first answer of a user to a question is the one kept (the `_id` makes it unique). */
export class AnswersStore {
  private readonly answers: Collection<AnswerDoc>;

  constructor(db: Db) {
    this.answers = db.collection<AnswerDoc>("answers");
  }

  async ensureIndexes(): Promise<void> {
    await this.answers.createIndex({ analysisId: 1, userId: 1 });
    await this.answers.createIndex({ userId: 1 });
  }

  /** Records the answer unless the user answered the question before: then that first one (`created: false`). */
  async record(a: NewAnswer): Promise<{ created: boolean; doc: AnswerDoc }> {
    const doc: AnswerDoc = { _id: idOf(a.questionId, a.userId), ...a };
    try {
      await this.answers.insertOne(doc);
      return { created: true, doc };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const first = await this.answers.findOne({ _id: doc._id });
      if (!first) throw err;
      return { created: false, doc: first };
    }
  }

  /**
   * Claims the right to count an answer into engagement: true exactly once per answer (so two
   * submissions at once, or a retry after a failed count, never count it twice).
   */
  async claimCount(questionId: string, userId: string): Promise<boolean> {
    const r = await this.answers.updateOne(
      { _id: idOf(questionId, userId), counted: false },
      { $set: { counted: true } },
    );
    return r.modifiedCount === 1;
  }

  /** Gives a claim back when counting failed, so the next submission counts it. */
  async releaseCount(questionId: string, userId: string): Promise<void> {
    await this.answers.updateOne({ _id: idOf(questionId, userId) }, { $set: { counted: false } });
  }

  ofUser(analysisId: string, userId: string): Promise<AnswerDoc[]> {
    return this.answers.find({ analysisId, userId }).toArray();
  }

  async removeOfAnalysis(analysisId: string): Promise<number> {
    return (await this.answers.deleteMany({ analysisId })).deletedCount;
  }

  async removeOfUser(userId: string): Promise<number> {
    return (await this.answers.deleteMany({ userId })).deletedCount;
  }
}
