import { describe, expect, it } from "vitest";
import { plainCueText } from "./transcript-text.ts";

describe("plainCueText", () => {
  it("decodes &amp; &lt; &gt; and &nbsp; (a plain space)", () => {
    expect(plainCueText("Files over 10&nbsp;kB are large (&gt; 10 kB) &amp; slow &lt;sic&gt;")).toBe(
      "Files over 10 kB are large (> 10 kB) & slow <sic>",
    );
    expect(plainCueText("a&nbsp;&nbsp;b")).toBe("a b");
    expect(plainCueText("&quot;quoted&quot; it&apos;s &eacute;t&eacute; &NotSubset; &lrm;")).toBe(
      '"quoted" it\'s été ⊂⃒ \u200e',
    );
  });

  it("decodes numeric references, decimal and hex (either case), astral ones too", () => {
    expect(plainCueText("&#62; &#x3E; &#X3e; &#x3c;&#47;i&#x3E; &#128512; &#x1F600; &#233;")).toBe(
      "> > > </i> 😀 😀 é",
    );
  });

  it("decodes once and only references that end with ';'", () => {
    expect(plainCueText("&amp;gt; &amp;#62; &amp;nbsp;")).toBe("&gt; &#62; &nbsp;");
    expect(plainCueText("Q&A at AT&T; &copy 2024 &notit; &bogus; & alone")).toBe(
      "Q&A at AT&T; &copy 2024 &notit; &bogus; & alone",
    );
  });

  it("strips WebVTT markup, nested, keeping its text", () => {
    expect(plainCueText("<i>in <b>bold <u>and</u></b> italic</i>")).toBe("in bold and italic");
    expect(plainCueText("<c.yellow.bg_blue>coloured</c> <lang en-GB>colour</lang>")).toBe("coloured colour");
    expect(plainCueText("<b><i>&lt;i&gt; is a tag</i></b>")).toBe("<i> is a tag");
  });

  it("strips voice spans, closed or not", () => {
    expect(plainCueText("<v Mary>Hi &amp; welcome.</v>")).toBe("Hi & welcome.");
    expect(plainCueText("<v.loud Dr. Smith>It grows &gt; 2 cm a day")).toBe("It grows > 2 cm a day");
    expect(plainCueText("<v Mary>Yes.\n<v Bob>No.")).toBe("Yes.\nNo.");
  });

  it("strips inline timestamps (YouTube's word timings)", () => {
    expect(plainCueText("the<00:00:01.280><c> roots</c><00:00:01.640><c> grow</c><01:00:02.000>&nbsp;fast")).toBe(
      "the roots grow fast",
    );
  });

  it("strips SRT's <font> and HTML tags and SSA override blocks", () => {
    expect(plainCueText('<font color="#ff0000">Red</font> <FONT face=Arial size="3">text</FONT>')).toBe("Red text");
    expect(plainCueText("{\\an8}<i>On top</i> {\\i1}again{\\i0} {\\pos(10,20)}here")).toBe("On top again here");
    expect(plainCueText("one<br>two<br/>three<BR />four")).toBe("one\ntwo\nthree\nfour");
  });

  it("puts ruby text in parentheses after its base", () => {
    expect(plainCueText("<ruby>漢字<rt>かんじ</rt></ruby>です")).toBe("漢字(かんじ)です");
    expect(plainCueText("<ruby>東<rt>とう</ruby>京")).toBe("東(とう)京");
    expect(plainCueText("<ruby>a<rt>b")).toBe("a(b)");
  });

  it("keeps a < that starts no tag, and braces that are no SSA block", () => {
    expect(plainCueText("x < 5 and y > 3, I <3 it, {braces} \\{x}")).toBe("x < 5 and y > 3, I <3 it, {braces} \\{x}");
  });

  it("keeps line breaks, collapses spaces, drops empty lines", () => {
    expect(plainCueText("  first\tline  \r\n\r\n<i> </i>\n  second&nbsp; line ")).toBe("first line\nsecond line");
    expect(plainCueText("<c></c>{\\an8}")).toBe("");
  });
});
