import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db } from "mongodb";

export interface MonitorCredentialDoc {
  /** The monitor id, lowercased (seed 002: 32 hex characters). */
  _id: string;
  ownerId: string;
  passwordHash: string;
  createdAt: Date;
}

/** Device credentials (collection `monitor_credentials`); the monitors themselves belong to telemetry. */
export class MonitorCredentialsStore {
  private readonly creds: Collection<MonitorCredentialDoc>;

  constructor(db: Db) {
    this.creds = db.collection<MonitorCredentialDoc>("monitor_credentials");
  }

  async ensureIndexes(): Promise<void> {
    await this.creds.createIndex({ ownerId: 1 }, { name: "ownerId" });
  }

  /** False when credentials for this monitor id exist already. */
  async create(doc: MonitorCredentialDoc): Promise<boolean> {
    try {
      await this.creds.insertOne(doc);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  findById(monitorId: string): Promise<MonitorCredentialDoc | null> {
    return this.creds.findOne({ _id: monitorId.toLowerCase() });
  }

  async delete(monitorId: string): Promise<boolean> {
    const res = await this.creds.deleteOne({ _id: monitorId.toLowerCase() });
    return res.deletedCount === 1;
  }

  /** Monitor ids by owner, for the given owners (every owner when `ownerIds` is omitted). */
  async idsByOwner(ownerIds?: readonly string[]): Promise<Map<string, string[]>> {
    const filter = ownerIds ? { ownerId: { $in: [...ownerIds] } } : {};
    const docs = await this.creds
      .find(filter, { projection: { _id: 1, ownerId: 1 } })
      .sort({ _id: 1 })
      .toArray();
    const byOwner = new Map<string, string[]>();
    for (const d of docs) {
      const list = byOwner.get(d.ownerId);
      if (list) list.push(d._id);
      else byOwner.set(d.ownerId, [d._id]);
    }
    return byOwner;
  }

  async idsOfOwner(ownerId: string): Promise<string[]> {
    return (await this.idsByOwner([ownerId])).get(ownerId) ?? [];
  }
}
