import { decodeHTMLStrict } from "entities";

/**
 * A tag in cue text: WebVTT's `<i>`, `<b>`, `<u>`, `<c.class>`, `<v Speaker>`, `<lang en>`,
 * `<ruby>`/`<rt>` and their end tags, HTML that SRT files carry (`<font color="…">`, `<br/>`), or an
 * inline timestamp `<00:00:01.000>`. A `<` that starts none of these (`x < 5`, `<3`) is text.
 */
const TAG = /<(\/?)([A-Za-z][^\s./>]*)[^<>]*>|<\d[\d:.]*>/g;
/** SSA/ASS override blocks that SRT files often carry: `{\an8}`, `{\i1}`, `{\pos(10,20)}`. */
const SSA_OVERRIDE = /\{\\[^{}]*\}/g;
/** Horizontal white space, Unicode's included (the no-break space of `&nbsp;`, U+2000–U+200A, …). */
const SPACES = /[^\S\n]+/g;

/**
 * A WebVTT or SRT cue's text as plain text: markup dropped, character references decoded. The one
 * reading of cue text in Trellis (media's transcript segments, analysis's caption reader).
 *
 * - Tags (see {@link TAG}) are removed and their content kept, except ruby text, which follows its
 *   base in parentheses (`<ruby>漢字<rt>かんじ</rt></ruby>` → `漢字(かんじ)`); `<br>` is a line break.
 * - SSA override blocks (`{\an8}`) are removed.
 * - Character references are decoded once, as HTML does but only when they end with `;` (named,
 *   decimal `&#62;` and hex `&#x3E;`), with `entities`' decoder: `&amp;lt;` is `&lt;`, and `Q&A` or
 *   `&copy` stay as written. Markup is removed before, so `&lt;i&gt;` is the text `<i>`.
 * - Spaces of any kind (`&nbsp;` included) are one plain space; each line is trimmed and empty
 *   lines dropped; line breaks are kept as `\n`.
 */
export function plainCueText(raw: string): string {
  let rubyText = false;
  const stripped = raw
    .replace(/\r\n?/g, "\n")
    .replace(SSA_OVERRIDE, "")
    .replace(TAG, (_, end: string | undefined, name: string | undefined) => {
      const tag = name?.toLowerCase();
      if (tag === "br") return "\n";
      if (tag === "rt") {
        const opens = !end;
        if (opens === rubyText) return "";
        rubyText = opens;
        return opens ? "(" : ")";
      }
      if (tag === "ruby" && end && rubyText) {
        // WebVTT lets `</ruby>` close an open `<rt>`.
        rubyText = false;
        return ")";
      }
      return "";
    });
  return decodeHTMLStrict(stripped + (rubyText ? ")" : ""))
    .split("\n")
    .map((line) => line.replace(SPACES, " ").trim())
    .filter((line) => line.length > 0)
    .join("\n");
}
