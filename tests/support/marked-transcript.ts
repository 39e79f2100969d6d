/**
 * A transcript whose cues carry what real WebVTT and SRT files carry: character references
 * (named, `&nbsp;`, decimal, hex), WebVTT markup (`<v>`, `<i>`, `<b>`, `<u>`, `<c.x>`, `<lang>`,
 * inline timestamps) and SRT's (`<font>`, `{\an8}`, `<br>`, a bare `&`), each cue with the plain
 * text it reads as. The plain texts hold what each export format escapes: `& < > " '` and GIFT's
 * `~ = # { } :`.
 */

interface MarkedCue {
  vtt: string;
  srt: string;
  plain: string;
}

export const MARKED_CUES: MarkedCue[] = [
  {
    vtt: "<v Teacher>Hydroponics means growing plants <i>without soil</i> &amp; with their roots in a nutrient&nbsp;solution.</v>",
    srt: "{\\an8}Hydroponics means growing plants <i>without soil</i> &amp; with their roots in a nutrient&nbsp;solution.",
    plain: "Hydroponics means growing plants without soil & with their roots in a nutrient solution.",
  },
  {
    vtt: "In 1937 <b>William Gericke</b> coined the word &quot;hydroponics&quot; at the <c.place>University of California</c>.",
    srt: 'In 1937 <b>William Gericke</b> coined the word &quot;hydroponics&quot; at the <font color="#00ffff">University of California</font>.',
    plain: 'In 1937 William Gericke coined the word "hydroponics" at the University of California.',
  },
  {
    vtt: "Lettuce grows well in a <u>nutrient film technique</u> system with a thin stream of water (&lt; 1 mm deep).",
    srt: "Lettuce grows well in a <u>nutrient film technique</u> system with a thin stream of water (&#60; 1 mm deep).",
    plain: "Lettuce grows well in a nutrient film technique system with a thin stream of water (< 1 mm deep).",
  },
  {
    vtt: "The pH of the nutrient solution should stay &gt; 5.5 and &#x3C; 6.5 for most crops.",
    srt: "The pH of the nutrient solution should stay &#62; 5.5 and &lt; 6.5 for most crops.",
    plain: "The pH of the nutrient solution should stay > 5.5 and < 6.5 for most crops.",
  },
  {
    vtt: "Basil needs about <00:00:08.500>14&#160;hours<00:00:09.000> of light every day to grow quickly.",
    srt: "Basil needs about 14&#xA0;hours of light every day to grow quickly.",
    plain: "Basil needs about 14 hours of light every day to grow quickly.",
  },
  {
    vtt: "<lang en>Electrical conductivity</lang> tells the grower how much fertilizer is dissolved in the water &mdash; its EC.",
    srt: '<FONT COLOR="red">Electrical conductivity</FONT> tells the grower how much fertilizer is dissolved in the water &#8212; its EC.',
    plain: "Electrical conductivity tells the grower how much fertilizer is dissolved in the water — its EC.",
  },
  {
    vtt: "<v.loud Dr. Smith>Deep water culture keeps the roots in an oxygenated reservoir with an air pump {model #1}.",
    srt: "Deep water culture keeps the roots in an oxygenated reservoir with an air pump {model #1}.{\\i0}",
    plain: "Deep water culture keeps the roots in an oxygenated reservoir with an air pump {model #1}.",
  },
  {
    vtt: "Tomatoes need calcium to avoid blossom end rot on the fruit (R&amp;D&apos;s rule: Ca = health ~ yield).",
    srt: "Tomatoes need calcium to avoid blossom end rot on the fruit (R&D's rule: Ca = health ~ yield).",
    plain: "Tomatoes need calcium to avoid blossom end rot on the fruit (R&D's rule: Ca = health ~ yield).",
  },
  {
    vtt: "<i>Rockwool cubes</i> hold the seedlings\nuntil their roots reach the channel.",
    srt: "<i>Rockwool cubes</i> hold the seedlings<br>\nuntil their roots reach the channel.",
    plain: "Rockwool cubes hold the seedlings\nuntil their roots reach the channel.",
  },
  {
    vtt: "<b><i>NASA</i></b> studied hydroponic gardens for long missions on the <c.yellow.bg_blue>International Space Station</c>.",
    srt: "<b><i>NASA</i></b> studied hydroponic gardens for long missions on the International Space Station.",
    plain: "NASA studied hydroponic gardens for long missions on the International Space Station.",
  },
];

/** Cue `i` runs from 2i to 2i + 2 seconds. */
const at = (s: number, sep: "." | ",") => `00:00:${String(s).padStart(2, "0")}${sep}000`;

/** The cues as WebVTT. */
export const markedVtt = [
  "WEBVTT",
  "",
  ...MARKED_CUES.flatMap((c, i) => [`${at(2 * i, ".")} --> ${at(2 * i + 2, ".")}`, c.vtt, ""]),
].join("\n");

/** The cues as SRT (CRLF, numbered). */
export const markedSrt = MARKED_CUES.flatMap((c, i) => [
  String(i + 1),
  `${at(2 * i, ",")} --> ${at(2 * i + 2, ",")}`,
  ...c.srt.split("\n"),
  "",
]).join("\r\n");

/** The segments media gives for either file. */
export const markedSegments = MARKED_CUES.map((c, i) => ({ start: 2000 * i, end: 2000 * i + 2000, text: c.plain }));

/** A character reference, a tag, an SSA block or an inline timestamp left in a text. */
export const LEFTOVER_MARKUP = /&(?:[a-z][a-z0-9]*|#\d+|#x[0-9a-f]+);|<\/?[a-z][^<>]*>|<\d[\d:.]*>|\{\\[^}]*\}/i;

const plainTexts = new Set(MARKED_CUES.map((c) => c.plain.replace(/\s+/g, " ")));
/** Whether `text` is one cue's plain text (white space aside): what an offline question's explanation is. */
export const isMarkedCuePlain = (text: string) => plainTexts.has(text.replace(/\s+/g, " "));
