import type { Collection, Db } from "mongodb";

export interface WebhookDoc {
  /** The user id. */
  _id: string;
  url: string;
  /** The signing secret (HMAC needs it in the clear; it is never logged or read back over the API). */
  secret: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Alarm webhooks, one per user (collection `webhooks`). */
export class WebhooksStore {
  private readonly webhooks: Collection<WebhookDoc>;

  constructor(db: Db) {
    this.webhooks = db.collection<WebhookDoc>("webhooks");
  }

  async put(userId: string, url: string, secret: string, now: Date): Promise<WebhookDoc> {
    const doc = await this.webhooks.findOneAndUpdate(
      { _id: userId },
      { $set: { url, secret, updatedAt: now }, $setOnInsert: { createdAt: now } },
      { upsert: true, returnDocument: "after" },
    );
    if (!doc) throw new Error("webhook upsert returned nothing");
    return doc;
  }

  find(userId: string): Promise<WebhookDoc | null> {
    return this.webhooks.findOne({ _id: userId });
  }

  async delete(userId: string): Promise<boolean> {
    return (await this.webhooks.deleteOne({ _id: userId })).deletedCount === 1;
  }
}
