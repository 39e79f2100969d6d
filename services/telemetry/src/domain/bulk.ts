import { randomBytes } from "node:crypto";
import {
  type BulkRowResult,
  GENERATE_PASSWORD,
  MAX_BULK_ROWS,
  MonitorId,
  PresentedPassword,
  TrellisError,
  UserId,
} from "@trellis/contracts";
import { CsvError, parse } from "csv-parse/sync";

/** A row that passed the checks telemetry can make alone; auth still checks the owner and the password. */
export interface BulkRow {
  line: number;
  monitorId: string;
  ownerId: string;
  /** The password to set; `generated` when it was made here (then it is shown in the result). */
  password: string;
  generated: boolean;
}

export type BulkPlanItem = { kind: "row"; row: BulkRow } | { kind: "error"; result: BulkRowResult };

const HEADER = ["id", "owner", "password"];
const shownId = (raw: string) => raw.slice(0, 64);

/**
 * A password for a monitor: 24 random bytes as base64url (32 characters, 192 bits), which meets
 * auth's policy (8–128 characters, not a common password) by construction.
 */
export const generatePassword = (): string => randomBytes(24).toString("base64url");

/**
 * Reads a bulk CSV into rows to create and rows already in error, in file order. The file may
 * start with the header `id,owner,password`; empty lines are skipped; cells are trimmed. A row
 * with another number of cells, a malformed id or owner, an empty password, or an id that an
 * earlier row of the file already has, is an error naming why. A file that is not CSV at all (an
 * unclosed quote) is `invalid_argument` with the parser's line; more than `MAX_BULK_ROWS` rows is
 * `payload_too_large`.
 */
export function planBulk(csv: string, generate: () => string = generatePassword): BulkPlanItem[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(csv, {
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      max_record_size: 4_096,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    if (err instanceof CsvError) throw new TrellisError("invalid_argument", `the CSV is malformed: ${err.message}`);
    throw err;
  }
  const first = records[0]?.record.map((c) => c.toLowerCase());
  if (first && first.length === HEADER.length && first.every((c, i) => c === HEADER[i])) records = records.slice(1);
  if (records.length > MAX_BULK_ROWS) {
    throw new TrellisError(
      "payload_too_large",
      `the CSV has ${records.length} rows; at most ${MAX_BULK_ROWS} are allowed`,
    );
  }
  const seen = new Map<string, number>();
  return records.map(({ record, info }): BulkPlanItem => {
    const line = info.lines;
    const error = (id: string, reason: string): BulkPlanItem => ({
      kind: "error",
      result: { line, id: shownId(id), status: "error", reason },
    });
    const [rawId = "", rawOwner = "", rawPassword = ""] = record;
    if (record.length !== 3) return error(rawId, `expected 3 cells (id,owner,password), got ${record.length}`);
    const id = MonitorId.safeParse(rawId);
    if (!id.success) return error(rawId, "id must be 32 hexadecimal characters");
    const earlier = seen.get(id.data);
    if (earlier !== undefined) return error(id.data, `duplicate id: line ${earlier} has it`);
    seen.set(id.data, line);
    const owner = UserId.safeParse(rawOwner);
    if (!owner.success) return error(id.data, "owner must be a user id (UUID)");
    const generated = rawPassword.toLowerCase() === GENERATE_PASSWORD;
    const password = generated ? generate() : rawPassword;
    if (!PresentedPassword.safeParse(password).success) return error(id.data, "password is required (or generate)");
    return { kind: "row", row: { line, monitorId: id.data, ownerId: owner.data, password, generated } };
  });
}

/** Counts of a bulk result by status. */
export function summarize(results: readonly BulkRowResult[]) {
  const count = (s: BulkRowResult["status"]) => results.filter((r) => r.status === s).length;
  return { results: [...results], created: count("created"), exists: count("exists"), errors: count("error") };
}
