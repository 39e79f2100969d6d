import { createHash, randomUUID } from "node:crypto";
import { MediaId, type PictureType, TrellisError } from "@trellis/contracts";
import sharp from "sharp";
import type { MediaContext } from "../context.ts";
import { actingFor } from "../domain/authorization.ts";
import { decodeCursor, pageOf } from "../domain/cursor.ts";
import { checkQuota } from "../domain/quota.ts";
import { decideRead } from "../domain/read-decision.ts";
import { describeContent, sniffPicture } from "../domain/sniff.ts";
import { pictureView } from "../store/pictures.ts";
import { accessible, readHead, remaining, requireExistingUser, tooLarge } from "./common.ts";
import type { MediaHandlers } from "./types.ts";

type PictureHandlers = Pick<
  MediaHandlers,
  "uploadPicture" | "listPictures" | "getPicture" | "readPicture" | "deletePicture" | "pictureBelongsTo"
>;

/** Longest side of a thumbnail, in pixels. */
export const THUMBNAIL_SIZE = 256;

const etagOf = (sha256: string) => `"${sha256}"`;

/** Decodes the image (its type is known from the magic bytes) and makes the thumbnail: a decoder failure is the client's file. */
async function imageFacts(bytes: Uint8Array, type: PictureType) {
  try {
    const image = sharp(bytes, { failOn: "error" });
    const meta = await image.metadata();
    const thumb = await sharp(bytes, { failOn: "error" })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: "inside", withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
    if (!meta.width || !meta.height) throw new Error("no dimensions");
    return { width: meta.width, height: meta.height, thumbnail: thumb };
  } catch (cause) {
    throw new TrellisError("unsupported_media_type", `the ${type} image could not be decoded`, { cause });
  }
}

export function pictureHandlers(t: MediaContext): PictureHandlers {
  const { pictures } = t;
  const max = t.config.PICTURE_MAX_BYTES;
  const find = (pictureId: string, actor: Parameters<typeof accessible>[0]) =>
    accessible(
      actor,
      () => pictures.find(pictureId),
      (d) => d.metadata.userId,
      "picture",
    );

  return {
    async uploadPicture({ actor, userId, declaredSize }, ctx) {
      const { user, ownerId } = actingFor(actor, userId);
      if (ownerId !== user.userId) await requireExistingUser(t, actor, ownerId, ctx.requestId);
      if (declaredSize !== undefined && declaredSize > max) throw tooLarge("picture", max);
      const quota = t.config.MEDIA_QUOTA_BYTES;
      const used = quota > 0 ? await t.usage.of(ownerId) : 0;
      checkQuota(used, declaredSize ?? 0, quota);

      const { head, rest } = await readHead(ctx.upload);
      const type = await sniffPicture(head);
      if (!type) {
        throw new TrellisError(
          "unsupported_media_type",
          `not a JPEG, PNG, WebP, GIF or AVIF image (the bytes are ${await describeContent(head)})`,
        );
      }
      // Held in memory (at most PICTURE_MAX_BYTES): the decoder needs the whole image anyway.
      const parts = [head];
      let size = head.length;
      for await (const chunk of remaining(rest)) {
        size += chunk.length;
        if (size > max) throw tooLarge("picture", max);
        parts.push(chunk);
      }
      if (size > max) throw tooLarge("picture", max);
      checkQuota(used, size, quota);
      const bytes = Buffer.concat(parts, size);
      const facts = await imageFacts(bytes, type);
      const id = randomUUID();
      await t.uploads.begin(id, [pictures.originals.name, pictures.thumbnails.name], ownerId);
      const doc = await pictures.insert(
        id,
        {
          bytes,
          meta: {
            userId: ownerId,
            type,
            sha256: createHash("sha256").update(bytes).digest("hex"),
            width: facts.width,
            height: facts.height,
          },
        },
        {
          bytes: facts.thumbnail,
          meta: {
            userId: ownerId,
            type: "image/webp",
            sha256: createHash("sha256").update(facts.thumbnail).digest("hex"),
          },
        },
      );
      await t.uploads.end(id);
      ctx.log.info({ pictureId: id, userId: ownerId, type, size }, "picture stored");
      return pictureView(doc);
    },

    async listPictures({ actor, userId, limit, cursor }) {
      const { ownerId } = actingFor(actor, userId);
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const docs = await pictures.page(ownerId, limit + 1, after);
      const page = pageOf(docs, limit, (d) => ({ at: d.uploadDate.getTime(), id: d._id }));
      return { items: page.items.map(pictureView), next: page.next };
    },

    async getPicture({ actor, pictureId }) {
      return pictureView((await find(pictureId, actor)).doc);
    },

    async readPicture({ actor, pictureId, variant, ifNoneMatch, headOnly }) {
      const { doc: original } = await find(pictureId, actor);
      const doc = variant === "original" ? original : await pictures.findThumbnail(pictureId);
      if (!doc) throw new TrellisError("not_found", "picture not found");
      const files = variant === "original" ? pictures.originals : pictures.thumbnails;
      const etag = etagOf(doc.metadata.sha256);
      // Pictures are small: no Range (a Range header is ignored, as RFC 9110 allows).
      const decision = decideRead({ size: doc.length, etag }, { ifNoneMatch });
      const range = decision.outcome === "full" ? decision.range : null;
      return {
        meta: {
          outcome: decision.outcome,
          contentType: doc.metadata.type,
          size: doc.length,
          range,
          etag,
          lastModified: doc.uploadDate.toISOString(),
        },
        body: range && !headOnly ? files.read(doc, range.start, range.end) : [],
      };
    },

    async deletePicture({ actor, pictureId }, ctx) {
      await find(pictureId, actor);
      await pictures.delete(pictureId);
      ctx.log.info({ pictureId }, "picture deleted");
      return {};
    },

    async pictureBelongsTo({ pictureId, userId }) {
      if (!MediaId.safeParse(pictureId).success) return { belongs: false };
      const doc = await pictures.find(pictureId);
      return { belongs: doc !== null && doc.metadata.userId === userId };
    },
  };
}
