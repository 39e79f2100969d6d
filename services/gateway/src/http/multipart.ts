import { TrellisError } from "@trellis/contracts";
import busboy from "busboy";
import type { Request } from "express";

export interface MultipartFile {
  /** The `filename` of the part's Content-Disposition (UTF-8 and `"` as %22, as browsers send it), when it had one. */
  filename: string | undefined;
  /**
   * The file's bytes as they arrive (read only as fast as they are taken). It ends only once the
   * whole form is parsed: a part after the file that is not allowed there, one too large, or a
   * body cut short fails it, so the upload it feeds is abandoned instead of half-applied.
   */
  body: AsyncIterable<Uint8Array>;
}

export interface MultipartForm {
  /** The text parts that came before the file part. */
  fields: Record<string, string>;
  file: MultipartFile;
  /**
   * The text parts that came after the file part (only names in `afterFile`). Complete once
   * `file.body` has ended: the body ends only when the whole form has been read.
   */
  after: Record<string, string>;
}

export interface MultipartOptions {
  /** The name of the file part. */
  file: string;
  /** The other parts the form may have (text fields, or small files read as text). */
  fields: readonly string[];
  /**
   * Those of `fields` that may also come after the file (browsers' `FormData`, `curl -F` and most
   * SDKs put the file first). They are held (at most `maxFieldBytes` each) while the file streams
   * on, for the route to apply once the file is stored. The others must come before the file:
   * they decide how it is stored.
   */
  afterFile?: readonly string[];
  /** Largest text of one field, in bytes. */
  maxFieldBytes: number;
}

const bad = (message: string) => new TrellisError("invalid_argument", message);
const gone = () => new TrellisError("cancelled", "the client went away before the end of the body");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a `multipart/form-data` body with busboy and resolves at its file part, with the fields
 * before it and the file as a stream (never held whole). Parts after the file are collected while
 * the stream is read to its end; those not allowed after it fail the stream (a 400, nothing
 * stored). Names and filenames are read as UTF-8, as browsers send them (busboy's default for
 * header parameters is latin1).
 */
export function readMultipart(req: Request, options: MultipartOptions): Promise<MultipartForm> {
  const afterFile = options.afterFile ?? [];
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        defParamCharset: "utf8",
        // One more than allowed of each, so the first unexpected part is named rather than counted.
        limits: {
          fieldSize: options.maxFieldBytes,
          fields: options.fields.length + 1,
          files: options.fields.length + 2,
          parts: options.fields.length + 2,
        },
      });
    } catch (err) {
      reject(bad(`not a multipart/form-data body: ${(err as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    const after: Record<string, string> = {};
    const seen = new Set<string>();
    const pending: Promise<void>[] = [];
    let started = false;
    let failure: Error | undefined;
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const fail = (err: Error) => {
      failure ??= err;
      if (!started) {
        reject(err);
        // Nothing will read the file now: let the refusal's lingering close drain the body instead.
        req.unpipe(parser);
      }
      done();
    };
    const tooLong = (name: string) =>
      new TrellisError("payload_too_large", `${name} is longer than ${options.maxFieldBytes} bytes`);

    /** Where a text part goes, or undefined (and the form failed) when it may not be there. */
    const slotFor = (name: string, kind: "field" | "part"): Record<string, string> | undefined => {
      if (!options.fields.includes(name)) {
        fail(bad(`unexpected form ${kind} ${name}`));
        return undefined;
      }
      if (seen.has(name)) {
        fail(bad(`the form has more than one ${name} part`));
        return undefined;
      }
      seen.add(name);
      if (!started) return fields;
      if (afterFile.includes(name)) return after;
      fail(bad(`the ${name} part must come before the ${options.file} part: it decides how the file is stored`));
      return undefined;
    };

    parser.on("field", (name, value, info) => {
      const slot = slotFor(name, "field");
      if (!slot) return;
      if (info.valueTruncated) fail(tooLong(name));
      else slot[name] = value;
    });

    parser.on("file", (name, stream, info) => {
      if (failure && !started) {
        stream.resume();
        return;
      }
      if (name === options.file && !started) {
        started = true;
        const file: MultipartFile = {
          // Browsers and undici's FormData send a `"` in a filename as %22 (HTML's rule for forms).
          filename: info.filename?.replaceAll("%22", '"'),
          body: (async function* () {
            let read = false;
            try {
              try {
                for await (const chunk of stream) yield chunk as Uint8Array;
              } catch (err) {
                // busboy fails the file's stream too when the form breaks off mid-file.
                fail(req.complete ? bad(`malformed multipart body: ${(err as Error).message}`) : gone());
              }
              // The parts after the file: read now, while the upload waits for its end.
              await finished;
              await Promise.all(pending);
              read = true;
              if (failure) throw failure;
              if (!req.complete) throw gone();
            } finally {
              // Stopped early (the service refused the bytes: too large, not an image): nothing
              // reads the form any more, so the refusal's lingering close drains the body itself.
              if (!read) {
                req.unpipe(parser);
                stream.resume();
              }
            }
          })(),
        };
        // A text part sent as a file may still be finishing (its 'end' comes a tick later).
        void Promise.all(pending).then(() => resolve({ fields, file, after }));
        return;
      }
      let slot: Record<string, string> | undefined;
      if (name === options.file) fail(bad(`the form has more than one ${name} part`));
      else slot = slotFor(name, "part");
      // A small file sent for a text field (e.g. `transcript=@subs.vtt`): read as UTF-8 text.
      const parts: Buffer[] = [];
      let size = 0;
      stream.on("data", (b: Buffer) => {
        size += b.length;
        if (slot && size <= options.maxFieldBytes) parts.push(b);
      });
      pending.push(
        new Promise<void>((read) =>
          stream.on("end", () => {
            // A refused part (no slot) failed the form already; its bytes were dropped.
            if (slot && size > options.maxFieldBytes) fail(tooLong(name));
            else if (slot) {
              try {
                slot[name] = utf8.decode(Buffer.concat(parts, size));
              } catch {
                fail(bad(`the ${name} part is not UTF-8 text`));
              }
            }
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
    req.on("error", () => fail(gone()));
    req.pipe(parser);
  });
}
