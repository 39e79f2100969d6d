import { describe, expect, it } from "vitest";
import { generateNatsAuth } from "./nats-config.ts";

describe("generateNatsAuth", () => {
  // nats-server reads `password: $NATS_SERVICE_PASSWORD` (deploy/nats/nats.conf) by parsing the
  // variable's value as a config token: a value beginning with '-' (base64url has it) or with
  // digits followed by '-' or '.' is taken for a number or a date and the server does not start.
  // A letter followed by hex is always a plain string token.
  it("makes service passwords that nats-server reads as a string when substituted as a variable", () => {
    for (let i = 0; i < 500; i++) {
      const { password } = generateNatsAuth();
      expect(password).toMatch(/^p[0-9a-f]{48}$/);
    }
  });
});
