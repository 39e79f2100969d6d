import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SecretBox } from "./secret-box.ts";

describe("SecretBox", () => {
  const key = randomBytes(32);

  it("seals so the secret is not in the stored text, and opens it for the same owner only", () => {
    const box = new SecretBox(key);
    const sealed = box.seal("JBSWY3DPEHPK3PXP", "user-1");
    expect(sealed).not.toContain("JBSWY3DPEHPK3PXP");
    expect(sealed.startsWith("a256gcm:")).toBe(true);
    expect(box.open(sealed, "user-1")).toBe("JBSWY3DPEHPK3PXP");
    expect(() => box.open(sealed, "user-2")).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(sealed, "user-1")).toThrow();
    expect(box.seal("JBSWY3DPEHPK3PXP", "user-1")).not.toBe(sealed);
  });

  it("without a key stores plainly, and a key set later still reads those", () => {
    const plain = new SecretBox(null).seal("JBSWY3DPEHPK3PXP", "u");
    expect(plain).toBe("plain:JBSWY3DPEHPK3PXP");
    expect(new SecretBox(key).open(plain, "u")).toBe("JBSWY3DPEHPK3PXP");
    expect(() => new SecretBox(null).open(new SecretBox(key).seal("x", "u"), "u")).toThrow(/MFA_ENCRYPTION_KEY/);
    expect(() => new SecretBox(Buffer.alloc(16))).toThrow();
  });
});
