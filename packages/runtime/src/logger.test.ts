import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, destination };
}

describe("createLogger", () => {
  it("writes JSON with service and instance on every line", () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: "auth", instance: "auth-1", destination });
    log.child({ reqId: "r-1" }).info("hello");
    const line = JSON.parse(lines[0] as string);
    expect(line).toMatchObject({ service: "auth", instance: "auth-1", reqId: "r-1", msg: "hello", level: "info" });
    expect(typeof line.time).toBe("string");
  });

  it("redacts secrets wherever a handler logs them", () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: "auth", instance: "auth-1", destination });
    log.info(
      {
        password: "pw-top-level",
        body: { password: "pw-nested", token: "0123456789abcdef0123456789abcdef", refresh_token: "rt-secret" },
        req: { headers: { authorization: "Bearer eyJsecret" } },
        encoding: [0.1, 0.2],
      },
      "login",
    );
    const text = lines.join("\n");
    for (const secret of [
      "pw-top-level",
      "pw-nested",
      "0123456789abcdef0123456789abcdef",
      "rt-secret",
      "eyJsecret",
      "0.1",
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain("[redacted]");
  });
});
