import type { TranscriptSegment } from "@trellis/contracts";
import model from "wink-eng-lite-web-model";
import winkNLP, { type Detail, type ItemEntity, type ItemSentence, type ItsFunction, type WinkMethods } from "wink-nlp";
import type { GenerateInput, Keyframe, Question, QuestionGenerator } from "./types.ts";

/**
 * Offline question generation with wink-nlp and its English model (shipped in an npm package, so
 * nothing is downloaded at run time): sentences, part-of-speech tags, lemmas, stop words and named
 * entities (numbers, dates, …) come from the model; everything else is plain arithmetic.
 *
 * 1. The segments are joined into one text, analysed once, and each sentence keeps the time of the
 *    point where it starts (interpolated inside its segment).
 * 2. Terms (lemmas of nouns, proper nouns, adjectives and verbs, stop words left out) are weighted
 *    TF-IDF-like, each sentence counting as a document: a term that recurs across the talk weighs
 *    more, one found in every sentence less.
 * 3. Answers are key noun phrases (adjectives and nouns ending in a noun) and entities; each has a
 *    kind (number, date, percent, …, proper name, term) and distractors come from other sentences'
 *    answers of the same kind: numbers nearest in magnitude, phrases of the same length and weight.
 * 4. A candidate (sentence, answer) is scored by sentence importance and answer weight. The best
 *    are kept one per stretch of the video first, so questions cover the whole talk, never two with
 *    the same answer; with three distractors a question is multiple choice, else cloze.
 * The result depends only on the input: ties are broken by position, options are ordered by a hash.
 */

type AnswerKind = "date" | "time" | "duration" | "number" | "percent" | "money" | "ordinal" | "proper" | "term";

const ENTITY_KINDS: Record<string, AnswerKind> = {
  DATE: "date",
  TIME: "time",
  DURATION: "duration",
  CARDINAL: "number",
  PERCENT: "percent",
  MONEY: "money",
  ORDINAL: "ordinal",
};

const NUMERIC_KINDS = new Set<AnswerKind>(["number", "percent", "money", "ordinal"]);
const PHRASE_KINDS = new Set<AnswerKind>(["proper", "term"]);
const CONTENT_POS = new Set(["NOUN", "PROPN", "ADJ", "VERB"]);
const PHRASE_POS = new Set(["NOUN", "PROPN", "ADJ"]);
const HEAD_POS = new Set(["NOUN", "PROPN"]);
const QUALIFIER =
  /^(?:about|around|approximately|roughly|nearly|almost|over|under|only|up to|more than|less than|at least|at most)\s+/i;
const DEICTIC = new Set(["this", "that", "these", "those", "such"]);
const VERB_FOLLOWERS = new Set(["DET", "AUX", "PRON", "PART"]);

const MIN_SENTENCE_WORDS = 6;
const MAX_SENTENCE_WORDS = 45;
const MAX_PHRASE_TOKENS = 4;
const DISTRACTORS = 3;

interface Sentence {
  index: number;
  text: string;
  /** Token range in the document, [first, end). */
  first: number;
  end: number;
  /** Character offset of each token in `text`. */
  offsets: number[];
  words: number;
  timestampMs: number;
  score: number;
}

interface Answer {
  sentence: number;
  text: string;
  /** Offset of `text` in its sentence. */
  at: number;
  kind: AnswerKind;
  /** Lower-case, spaces collapsed: what "the same answer" means. */
  key: string;
  tokens: number;
  weight: number;
}

interface Candidate {
  answer: Answer;
  sentence: Sentence;
  score: number;
}

let nlp: WinkMethods | undefined;
/** The model takes ~100 ms to load: once, on first use. */
function loadNlp(): WinkMethods {
  nlp ??= winkNLP(model);
  return nlp;
}

/** 32-bit FNV-1a: stable option order and tie-breaking without randomness. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const keyOf = (text: string) => text.toLowerCase().replace(/\s+/g, " ").trim();

const isWordChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

/** Where `needle` occurs in `haystack` as whole words (not inside a longer word or number), or -1. */
export function findWhole(haystack: string, needle: string, from = 0): number {
  const h = haystack.toLowerCase();
  const n = needle.toLowerCase();
  for (let at = h.indexOf(n, from); at >= 0; at = h.indexOf(n, at + 1)) {
    const before = h[at - 1];
    const after = h[at + n.length];
    // "6.5" must not match inside "16.5" nor "6.55"; a trailing "." ends a sentence, so it is fine.
    const numericJoin = (c: string | undefined, d: string | undefined) => c === "." && isWordChar(d);
    if (isWordChar(before) || isWordChar(after)) continue;
    if (numericJoin(before, h[at - 2]) || numericJoin(after, h[at + n.length + 1])) continue;
    return at;
  }
  return -1;
}

/** A rough English plural test on the last word: enough to match distractors to the answer. */
const isPlural = (text: string) => /[^s]s$/i.test(text.split(" ").at(-1) ?? "");

const numericValue = (text: string): number | undefined => {
  const m = /-?\d[\d,]*(?:\.\d+)?/.exec(text);
  if (!m) return undefined;
  const v = Number(m[0].replaceAll(",", ""));
  return Number.isFinite(v) ? v : undefined;
};

/** The keyframe nearest in time (the earlier on a tie), or null without keyframes. */
export function nearestKeyframe(keyframes: readonly Keyframe[] | undefined, atMs: number): string | null {
  let best: Keyframe | undefined;
  for (const k of keyframes ?? []) {
    if (
      !best ||
      Math.abs(k.atMs - atMs) < Math.abs(best.atMs - atMs) ||
      (Math.abs(k.atMs - atMs) === Math.abs(best.atMs - atMs) && k.atMs < best.atMs)
    ) {
      best = k;
    }
  }
  return best ? best.id : null;
}

interface Analysis {
  sentences: Sentence[];
  answers: Answer[];
}

function analyse(segments: readonly TranscriptSegment[]): Analysis {
  // The segments as one text, remembering where each starts: sentences run across caption cues.
  const parts: { from: number; to: number; segment: TranscriptSegment }[] = [];
  let text = "";
  for (const segment of segments) {
    const t = segment.text.replace(/\s+/g, " ").trim();
    if (!t) continue;
    if (text) text += " ";
    parts.push({ from: text.length, to: text.length + t.length, segment });
    text += t;
  }
  if (!text) return { sentences: [], answers: [] };

  const wink = loadNlp();
  const its = wink.its;
  const doc = wink.readDoc(text);
  const tokens = doc.tokens();
  const value = tokens.out(its.value) as string[];
  const pos = tokens.out(its.pos) as string[];
  const type = tokens.out(its.type) as string[];
  const stop = tokens.out(its.stopWordFlag) as unknown as boolean[];
  // Typed as needing the model's add-ons, which readDoc supplies.
  const lemma = tokens.out(its.lemma as unknown as ItsFunction<string>) as string[];
  const spaces = tokens.out(its.precedingSpaces) as string[];

  // Character offset of every token in `text`, to place sentences on the timeline.
  const docOffset: number[] = [];
  let cursor = 0;
  for (let i = 0; i < value.length; i++) {
    cursor += (spaces[i] ?? "").length;
    docOffset.push(cursor);
    cursor += (value[i] ?? "").length;
  }
  let part = 0;
  const timeAt = (offset: number): number => {
    while (part < parts.length - 1 && (parts[part + 1]?.from ?? Number.POSITIVE_INFINITY) <= offset) part++;
    const p = parts[part];
    if (!p) return 0;
    const { start, end } = p.segment;
    const share = Math.min(1, Math.max(0, (offset - p.from) / Math.max(1, p.to - p.from)));
    return Math.round(start + share * Math.max(0, end - start));
  };

  const sentences: Sentence[] = [];
  doc.sentences().each((s: ItemSentence) => {
    const st = s.tokens();
    const first = st.itemAt(0).index();
    const end = first + st.length();
    const offsets: number[] = [];
    let sentenceText = "";
    let words = 0;
    for (let i = first; i < end; i++) {
      if (i > first) sentenceText += spaces[i] ?? "";
      offsets.push(sentenceText.length);
      sentenceText += value[i] ?? "";
      if (type[i] === "word" || type[i] === "number") words++;
    }
    sentences.push({
      index: sentences.length,
      text: sentenceText,
      first,
      end,
      offsets,
      words,
      timestampMs: timeAt(docOffset[first] ?? 0),
      score: 0,
    });
  });

  // Term weights: TF over the whole text, IDF over sentences.
  const isContent = (i: number) =>
    type[i] === "word" && !stop[i] && CONTENT_POS.has(pos[i] ?? "") && (lemma[i] ?? "").length > 2;
  const tf = new Map<string, number>();
  const df = new Map<string, number>();
  for (const s of sentences) {
    const seen = new Set<string>();
    for (let i = s.first; i < s.end; i++) {
      if (!isContent(i)) continue;
      const l = (lemma[i] ?? "").toLowerCase();
      tf.set(l, (tf.get(l) ?? 0) + 1);
      if (!seen.has(l)) {
        seen.add(l);
        df.set(l, (df.get(l) ?? 0) + 1);
      }
    }
  }
  const n = Math.max(1, sentences.length);
  const rawWeight = new Map<string, number>();
  let maxWeight = 0;
  for (const [l, f] of tf) {
    const w = (1 + Math.log(f)) * Math.log(1 + n / (df.get(l) ?? 1));
    rawWeight.set(l, w);
    maxWeight = Math.max(maxWeight, w);
  }
  const weightOf = (i: number) =>
    isContent(i) ? (rawWeight.get((lemma[i] ?? "").toLowerCase()) ?? 0) / (maxWeight || 1) : 0;

  // Entities, by sentence, as token ranges.
  const entityAt = new Map<number, { end: number; kind: AnswerKind }>();
  doc.entities().each((e: ItemEntity) => {
    const detail = e.out(its.detail) as unknown as Detail;
    const kind = ENTITY_KINDS[detail.type];
    if (!kind) return;
    const et = e.tokens();
    const first = et.itemAt(0).index();
    entityAt.set(first, { end: first + et.length(), kind });
  });

  const answers: Answer[] = [];
  for (const s of sentences) {
    const spanText = (from: number, to: number) => {
      const a = s.offsets[from - s.first] ?? 0;
      const last = to - 1;
      return s.text.slice(a, (s.offsets[last - s.first] ?? 0) + (value[last] ?? "").length);
    };
    const add = (from: number, to: number, kind: AnswerKind, weight: number) => {
      // "about 5.0": the qualifier stays in the question, else only the answer would carry it.
      const t = PHRASE_KINDS.has(kind) ? spanText(from, to) : spanText(from, to).replace(QUALIFIER, "");
      if (t.length < 2) return;
      answers.push({
        sentence: s.index,
        text: t,
        at: s.offsets[from - s.first] ?? 0,
        kind,
        key: keyOf(t),
        tokens: to - from,
        weight,
      });
    };
    let contentWeight = 0;
    for (let i = s.first; i < s.end; i++) contentWeight += weightOf(i);
    let entities = 0;
    let entityEnd = -1;
    for (let i = s.first; i < s.end; ) {
      const entity = entityAt.get(i);
      if (entity && entity.end <= s.end) {
        entities++;
        add(i, entity.end, entity.kind, entity.kind === "date" ? 0.95 : 0.85);
        i = entityEnd = entity.end;
        continue;
      }
      // A noun phrase: adjectives and nouns, starting on a content word, ending on a noun.
      if (type[i] === "word" && PHRASE_POS.has(pos[i] ?? "") && !stop[i]) {
        // Not a unit after a number ("10 ___"), nor the tail of a coordination ("ebb and ___").
        const unit = i === entityEnd || type[i - 1] === "number";
        const coordinated = i - 2 >= s.first && pos[i - 1] === "CCONJ" && PHRASE_POS.has(pos[i - 2] ?? "");
        let j = i;
        while (j < s.end && j - i < MAX_PHRASE_TOKENS && type[j] === "word" && PHRASE_POS.has(pos[j] ?? "")) {
          if (entityAt.has(j)) break;
          j++;
        }
        let last = j - 1;
        // "drip systems feed each plant": a noun before a determiner or auxiliary is likely a mistagged verb.
        if (last > i && VERB_FOLLOWERS.has(pos[j] ?? "")) last--;
        while (last >= i && !HEAD_POS.has(pos[last] ?? "")) last--;
        if (last >= i && !stop[last]) {
          let weight = 0;
          for (let k = i; k <= last; k++) weight = Math.max(weight, weightOf(k));
          // A name when its head is one ("United States Army"), not for "typical NFT channel".
          const proper = pos[last] === "PROPN";
          // Longer phrases say more; single words must weigh a lot to be worth asking.
          weight += 0.08 * (last - i);
          // A run longer than a phrase may be is cut anywhere: no answer from it.
          const cut = j - i === MAX_PHRASE_TOKENS && j < s.end && type[j] === "word" && PHRASE_POS.has(pos[j] ?? "");
          if (weight > 0.15 && !unit && !coordinated && !cut)
            add(i, last + 1, proper ? "proper" : "term", Math.min(1, weight));
        }
        i = Math.max(i + 1, j);
        continue;
      }
      i++;
    }
    // Importance: term weight per word (not favouring long sentences), facts (entities), a sensible length.
    const lengthFit =
      s.words < MIN_SENTENCE_WORDS || s.words > MAX_SENTENCE_WORDS ? 0 : s.words < 10 ? 0.7 : s.words > 32 ? 0.8 : 1;
    // A sentence opening on "It", "This", "They", … leans on the one before: weaker on its own.
    const firstWord = (value[s.first] ?? "").toLowerCase();
    const standsAlone = pos[s.first] === "PRON" || DEICTIC.has(firstWord) ? 0.75 : 1;
    s.score =
      lengthFit * standsAlone * (contentWeight / Math.sqrt(Math.max(1, s.words)) + 0.15 * Math.min(2, entities));
  }
  return { sentences, answers };
}

/** Other answers of the same kind that could pass for this one, best first. */
function distractorsFor(answer: Answer, sentence: Sentence, pools: ReadonlyMap<AnswerKind, Answer[]>): string[] {
  const pool = pools.get(answer.kind) ?? [];
  const seen = new Set<string>([answer.key]);
  const sentenceLower = sentence.text.toLowerCase();
  const target = numericValue(answer.text);
  const ranked = pool
    .filter((a) => {
      if (seen.has(a.key)) return false;
      // Not a giveaway or a second right answer: not in the question, not part of the answer, nor equal in value.
      if (findWhole(sentenceLower, a.key) >= 0 || a.key.includes(answer.key) || answer.key.includes(a.key)) {
        return false;
      }
      if (NUMERIC_KINDS.has(answer.kind)) {
        const v = numericValue(a.text);
        if (v === undefined || v === target) return false;
      }
      return true;
    })
    .map((a) => {
      let distance: number;
      if (!PHRASE_KINDS.has(answer.kind)) {
        // Numbers, and dates or times written with numbers ("1937", not "today"): nearest in magnitude.
        const v = numericValue(a.text);
        distance =
          v === undefined || target === undefined
            ? v === target
              ? 1
              : 10
            : Math.abs(Math.log10(Math.abs(v) + 1) - Math.log10(Math.abs(target) + 1));
      } else {
        // Same length, weight and number ("vines" / "lamps", not "vines" / "meter"): reads as plausible.
        distance =
          Math.abs(a.tokens - answer.tokens) +
          Math.abs(a.weight - answer.weight) +
          (isPlural(a.text) === isPlural(answer.text) ? 0 : 0.5);
      }
      return { a, distance };
    })
    .sort((x, y) => x.distance - y.distance || hash(x.a.key) - hash(y.a.key));
  const out: string[] = [];
  // "4.0" and "about 4" are one distractor: numbers count once per value.
  const values = new Set<number>(target === undefined ? [] : [target]);
  for (const { a } of ranked) {
    if (seen.has(a.key)) continue;
    const v = numericValue(a.text);
    if (v !== undefined && values.has(v)) continue;
    if (v !== undefined) values.add(v);
    seen.add(a.key);
    out.push(a.text);
    if (out.length === DISTRACTORS) break;
  }
  return out;
}

function toQuestion(c: Candidate, distractors: string[], keyframes: readonly Keyframe[] | undefined): Question {
  const { answer, sentence } = c;
  const blanked = `${sentence.text.slice(0, answer.at)}___${sentence.text.slice(answer.at + answer.text.length)}`;
  const multiple = distractors.length >= DISTRACTORS;
  const seed = hash(`${sentence.text}|${answer.key}`);
  const options = multiple
    ? [answer.text, ...distractors].sort((x, y) => hash(`${seed}|${x}`) - hash(`${seed}|${y}`))
    : [answer.text];
  return {
    text: blanked,
    options,
    answer: answer.text,
    explanation: sentence.text,
    timestampMs: sentence.timestampMs,
    keyframeId: nearestKeyframe(keyframes, sentence.timestampMs),
    kind: multiple ? "multiple_choice" : "cloze",
  };
}

/**
 * Picks `count` candidates: first the best of each of `count` equal stretches of the timeline (so
 * a talk is covered end to end), then the best of the rest; no answer and no sentence twice.
 */
function pickSpread(ranked: readonly Candidate[], count: number): Candidate[] {
  if (ranked.length === 0 || count <= 0) return [];
  const times = ranked.map((c) => c.sentence.timestampMs);
  const from = Math.min(...times);
  const span = Math.max(...times) - from + 1;
  const usedAnswers = new Set<string>();
  const usedSentences = new Set<number>();
  const picked: Candidate[] = [];
  const take = (c: Candidate) => {
    if (usedAnswers.has(c.answer.key) || usedSentences.has(c.sentence.index)) return false;
    usedAnswers.add(c.answer.key);
    usedSentences.add(c.sentence.index);
    picked.push(c);
    return true;
  };
  const bucketOf = (c: Candidate) => Math.min(count - 1, Math.floor(((c.sentence.timestampMs - from) / span) * count));
  for (let b = 0; b < count; b++) {
    for (const c of ranked) if (bucketOf(c) === b && take(c)) break;
  }
  for (const c of ranked) {
    if (picked.length >= count) break;
    take(c);
  }
  return picked.slice(0, count);
}

/** Generates questions from the transcript alone, offline. See the module comment for how. */
export async function generateOffline(input: GenerateInput, signal?: AbortSignal): Promise<Question[]> {
  signal?.throwIfAborted();
  const count = Math.max(0, Math.floor(input.count));
  if (count === 0) return [];
  const { sentences, answers } = analyse(input.segments);
  signal?.throwIfAborted();

  // Distractor pools: one answer per distinct text, by kind.
  const pools = new Map<AnswerKind, Answer[]>();
  const pooled = new Set<string>();
  for (const a of answers) {
    if (pooled.has(`${a.kind}|${a.key}`)) continue;
    pooled.add(`${a.kind}|${a.key}`);
    const pool = pools.get(a.kind) ?? [];
    pool.push(a);
    pools.set(a.kind, pool);
  }
  const maxScore = Math.max(0, ...sentences.map((s) => s.score));
  const candidates: Candidate[] = [];
  for (const answer of answers) {
    const sentence = sentences[answer.sentence];
    if (!sentence || sentence.score <= 0) continue;
    if (sentence.text.trimEnd().endsWith("?")) continue;
    // The blank must be unambiguous: the answer occurs once in its sentence.
    const at = findWhole(sentence.text, answer.text);
    if (at < 0 || findWhole(sentence.text, answer.text, at + 1) >= 0) continue;
    answer.at = at;
    const score = (0.6 * sentence.score) / (maxScore || 1) + 0.4 * answer.weight;
    candidates.push({ answer, sentence, score });
  }
  signal?.throwIfAborted();
  candidates.sort((a, b) => b.score - a.score || a.sentence.index - b.sentence.index || a.answer.at - b.answer.at);
  return pickSpread(candidates, count)
    .sort((a, b) => a.sentence.timestampMs - b.sentence.timestampMs || a.sentence.index - b.sentence.index)
    .map((c) => toQuestion(c, distractorsFor(c.answer, c.sentence, pools), input.keyframes));
}

/** The offline generator as a pluggable {@link QuestionGenerator}. */
export const offlineQuestionGenerator: QuestionGenerator = { name: "offline", generate: generateOffline };
