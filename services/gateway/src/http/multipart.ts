import { TrellisError } from "@trellis/contracts";
import busboy from "busboy";
import type { Request } from "express";

export interface MultipartFile {
  /** The `filename` of the part's Content-Disposition, when it had one. */
  filename: string | undefined;
  /**
   * The file's bytes as they arrive (read only as fast as they are taken). It ends only once the
   * whole form is parsed: a part after the file (a field it would have needed) or a body cut
   * short fails it, so the upload it feeds is abandoned instead of half-applied.
   */
  body: AsyncIterable<Uint8Array>;
}

export interface MultipartOptions {
  /** The name of the file part. */
  file: string;
  /** Other parts allowed before it (text fields, or small files read as text). */
  fields: readonly string[];
  /** Largest text of one field, in bytes. */
  maxFieldBytes: number;
}

const bad = (message: string) => new TrellisError("invalid_argument", message);

/**
 * Reads a `multipart/form-data` body with busboy up to its file part, collecting the fields
 * before it, and resolves with those fields and the file as a stream. Fields must come before
 * the file (the upload starts with them); anything else is a 400.
 */
export function readMultipart(
  req: Request,
  options: MultipartOptions,
): Promise<{ fields: Record<string, string>; file: MultipartFile }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { fieldSize: options.maxFieldBytes, fields: options.fields.length, files: 2, parts: 10 },
      });
    } catch (err) {
      reject(bad(`not a multipart/form-data body: ${(err as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    const pending: Promise<void>[] = [];
    let started = false;
    let late: TrellisError | undefined;
    let failure: Error | undefined;
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const fail = (err: Error) => {
      failure ??= err;
      if (!started) reject(err);
      done();
    };

    parser.on("field", (name, value, info) => {
      if (started) late ??= bad(`the ${name} part must come before the ${options.file} part`);
      else if (!options.fields.includes(name)) fail(bad(`unexpected form field ${name}`));
      else if (info.valueTruncated)
        fail(new TrellisError("payload_too_large", `${name} is longer than ${options.maxFieldBytes} bytes`));
      else fields[name] = value;
    });

    parser.on("file", (name, stream, info) => {
      if (name === options.file && !started) {
        started = true;
        // A text part sent as a file may still be finishing (its 'end' comes a tick later).
        void Promise.all(pending).then(() =>
          resolve({
            fields,
            file: {
              filename: info.filename,
              body: (async function* () {
                for await (const chunk of stream) yield chunk as Uint8Array;
                await finished;
                if (failure) throw failure;
                if (late) throw late;
                if (!req.complete)
                  throw new TrellisError("cancelled", "the client went away before the end of the body");
              })(),
            },
          }),
        );
        return;
      }
      if (started) late ??= bad(`the ${name} part must come before the ${options.file} part`);
      else if (!options.fields.includes(name)) fail(bad(`unexpected form part ${name}`));
      // A small file sent for a text field (e.g. `transcript=@subs.vtt`): read as text.
      const before = !started;
      const parts: Buffer[] = [];
      let size = 0;
      stream.on("data", (b: Buffer) => {
        size += b.length;
        if (size <= options.maxFieldBytes) parts.push(b);
      });
      pending.push(
        new Promise<void>((read) =>
          stream.on("end", () => {
            if (size > options.maxFieldBytes) {
              fail(new TrellisError("payload_too_large", `${name} is longer than ${options.maxFieldBytes} bytes`));
            } else if (before) fields[name] = Buffer.concat(parts).toString("utf8");
            read();
          }),
        ),
      );
    });

    parser.on("partsLimit", () => fail(bad("too many form parts")));
    parser.on("filesLimit", () => fail(bad("too many files in the form")));
    parser.on("fieldsLimit", () => fail(bad("too many form fields")));
    parser.on("error", (err: Error) => fail(bad(`malformed multipart body: ${err.message}`)));
    parser.on("close", () => {
      if (!started) fail(bad(`the form has no ${options.file} part`));
      done();
    });
    req.on("error", (err) => fail(err));
    req.pipe(parser);
  });
}
