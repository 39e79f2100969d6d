import { describe, expect, it } from "vitest";
import { anchors, codePaths, links, markdownFiles, problems, slug } from "./links.ts";

describe("links in the README and docs/", () => {
  it("point to files and headings that exist, and code paths name files that exist", () => {
    const files = markdownFiles();
    expect(files).toContain("README.md");
    expect(files).toContain("docs/configuration.md");
    expect(files.flatMap(problems)).toEqual([]);
  });

  it("anchors are GitHub's: punctuation dropped, repeated headings numbered", () => {
    expect(slug("Egress (no server-side request forgery)")).toBe("egress-no-server-side-request-forgery");
    expect(slug("Resumable uploads (tus 1.0)")).toBe("resumable-uploads-tus-10");
    expect(slug("`npm run bench:media`")).toBe("npm-run-benchmedia");
    expect([...anchors("# A\n## Walk\n```\n# not a heading\n```\n## Walk\n")]).toEqual(["a", "walk", "walk-1"]);
  });

  it("reads links outside code and repository paths inside inline code", () => {
    const md =
      "See [ops](operations.md#cluster), [site](https://x.org) and `[no](link.md)`.\n" +
      "```\n[fenced](x.md) `services/x.ts`\n```\n" +
      "Files: `services/gateway/src/http/sse.ts`, `services/*/src/config.ts`, `npm test`.";
    expect(links(md)).toEqual(["operations.md#cluster"]);
    expect(codePaths(md)).toEqual(["services/gateway/src/http/sse.ts"]);
  });
});
