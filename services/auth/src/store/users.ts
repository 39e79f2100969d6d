import { isDuplicateKey } from "@trellis/runtime";
import type { Collection, Db, Filter } from "mongodb";
import type { UserCursor } from "../domain/cursor.ts";

export type Role = "user" | "admin";

export interface UserDoc {
  _id: string;
  username: string;
  usernameLower: string;
  email: string | null;
  role: Role;
  passwordHash: string;
  createdAt: Date;
  faceEncoding: number[] | null;
  faceUpdatedAt: Date | null;
}

/** Claims an email address: `_id` is the lowercased address, so uniqueness needs no sparse index. */
interface EmailDoc {
  _id: string;
  userId: string;
}

export type CreateUserResult = { ok: true; user: UserDoc } | { ok: false; taken: "username" | "email" };

export interface NewUser {
  id: string;
  username: string;
  email: string | null;
  role: Role;
  passwordHash: string;
  createdAt: Date;
}

/** Users and their email claims (collections `users`, `user_emails`). */
export class UsersStore {
  private readonly users: Collection<UserDoc>;
  private readonly emails: Collection<EmailDoc>;

  constructor(db: Db) {
    this.users = db.collection<UserDoc>("users");
    this.emails = db.collection<EmailDoc>("user_emails");
  }

  async ensureIndexes(): Promise<void> {
    await this.users.createIndex({ usernameLower: 1 }, { unique: true, name: "usernameLower_unique" });
    await this.users.createIndex({ createdAt: 1, _id: 1 }, { name: "createdAt_id" });
    await this.emails.createIndex({ userId: 1 }, { name: "userId" });
  }

  /** Claims the email first, then inserts the user; releases the claim when the username is taken. */
  async create(input: NewUser): Promise<CreateUserResult> {
    if (input.email !== null) {
      try {
        await this.emails.insertOne({ _id: input.email, userId: input.id });
      } catch (err) {
        if (isDuplicateKey(err)) return { ok: false, taken: "email" };
        throw err;
      }
    }
    const user: UserDoc = {
      _id: input.id,
      username: input.username,
      usernameLower: input.username.toLowerCase(),
      email: input.email,
      role: input.role,
      passwordHash: input.passwordHash,
      createdAt: input.createdAt,
      faceEncoding: null,
      faceUpdatedAt: null,
    };
    try {
      await this.users.insertOne(user);
      return { ok: true, user };
    } catch (err) {
      if (input.email !== null) await this.emails.deleteOne({ _id: input.email, userId: input.id });
      if (isDuplicateKey(err)) return { ok: false, taken: "username" };
      throw err;
    }
  }

  findById(id: string): Promise<UserDoc | null> {
    return this.users.findOne({ _id: id });
  }

  findByUsername(username: string): Promise<UserDoc | null> {
    return this.users.findOne({ usernameLower: username.toLowerCase() });
  }

  findByIds(ids: readonly string[]): Promise<UserDoc[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.users.find({ _id: { $in: [...ids] } }).toArray();
  }

  /** A page ordered by (createdAt, _id), starting after `after`. */
  page(limit: number, after: UserCursor | null): Promise<UserDoc[]> {
    const filter: Filter<UserDoc> = after
      ? { $or: [{ createdAt: { $gt: after.createdAt } }, { createdAt: after.createdAt, _id: { $gt: after.id } }] }
      : {};
    return this.users.find(filter).sort({ createdAt: 1, _id: 1 }).limit(limit).toArray();
  }

  /** Every user with only what the seed 002 owners listing needs, in creation order. */
  /** Every user (id, name, role) in creation order, `size` at a time, read through one cursor. */
  async *pagesOfBrief(size: number): AsyncGenerator<Pick<UserDoc, "_id" | "username" | "role">[]> {
    let page: Pick<UserDoc, "_id" | "username" | "role">[] = [];
    const cursor = this.users
      .find({}, { projection: { _id: 1, username: 1, role: 1 }, batchSize: size })
      .sort({ createdAt: 1, _id: 1 });
    for await (const u of cursor) {
      page.push(u);
      if (page.length === size) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  setRole(id: string, role: Role): Promise<UserDoc | null> {
    return this.users.findOneAndUpdate({ _id: id }, { $set: { role } }, { returnDocument: "after" });
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<boolean> {
    const res = await this.users.updateOne({ _id: id }, { $set: { passwordHash } });
    return res.matchedCount === 1;
  }

  async setFaceEncoding(id: string, encoding: number[], at: Date): Promise<boolean> {
    const res = await this.users.updateOne({ _id: id }, { $set: { faceEncoding: encoding, faceUpdatedAt: at } });
    return res.matchedCount === 1;
  }

  /** Deletes the user (and its face encoding with it) and its email claim; returns the deleted user. */
  async delete(id: string): Promise<UserDoc | null> {
    const user = await this.users.findOneAndDelete({ _id: id });
    await this.emails.deleteMany({ userId: id });
    return user;
  }
}
