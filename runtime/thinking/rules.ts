/**
 * The rules annotator: transparent phrase rules that approximate the paper's six behaviour
 * categories on a chain's text, for when no annotating model is available (or to compare with
 * one). What it does, all of it:
 *
 * 1. **Sentences.** The text is cut into sentences: a sentence ends after `.`, `!` or `?` followed
 *    by white space, or at a line break. Leading and trailing white space is not part of it.
 *    Thinking tags (`<think>`, `</think>`) are never part of a sentence.
 * 2. **Phrases.** Each category has a list of phrases (RULES below), matched case-insensitively
 *    as whole words (a phrase never matches inside a longer word, in any script).
 * 3. **One label per sentence.** A sentence gets the category of the phrase that starts earliest
 *    in it; when phrases of two categories start at the same character, the category listed first
 *    in PRECEDENCE wins (the more specific behaviours first). A sentence with no phrase is left
 *    unlabelled. So the spans of a chain never overlap.
 *
 * Offsets are code points of the chain's text, as in every LayerLab annotation file.
 */
import { BEHAVIOURS, codePointAt16, codePointIndex, type Behaviour, type Span } from '../protocol/thinking';

/** The phrases of each category (lower case; `\s+` between words is implied). */
export const RULES: Readonly<Record<Behaviour, readonly string[]>> = {
  backtracking: [
    'wait', 'hold on', 'actually', 'on second thought', 'alternatively', 'instead', 'let me reconsider', 'let me rethink', 'let me try again',
    'let me start over', 'let me go back', 'that is not right', "that's not right", "that doesn't work", 'that does not work', 'i made a mistake',
    'that was wrong', 'no, ',
  ],
  'uncertainty-estimation': [
    'maybe', 'perhaps', 'i think', 'i guess', 'i wonder', "i'm not sure", 'i am not sure', 'not sure', "i don't know", "didn't know", 'probably',
    'might be', 'could be', 'it seems', 'hmm',
  ],
  'example-testing': [
    'for example', 'for instance', 'e.g.', "let's test", 'let me test', "let's check", 'let me check', "let's verify", 'let me verify', "let's try",
    'let me try', 'suppose', 'say we have', 'take the case', 'plug in', 'if we take',
  ],
  'adding-knowledge': [
    'i know that', 'i recall', 'i remember', 'remember that', 'recall that', 'it is known', 'as we know', 'by definition', 'the formula',
    'the rule is', 'in general', 'according to', 'is known as',
  ],
  initializing: [
    'okay, so', 'ok, so', 'alright, so', 'let me start', "let's start", 'first, i need to', 'first i need to', "first, let's", 'the question asks',
    'the question is', 'the problem asks', 'the problem is', 'the problem says', 'we need to', 'i need to figure out', 'i need to find',
  ],
  deduction: ['so', 'therefore', 'thus', 'hence', 'which means', 'that means', 'this means', 'it follows', 'because', 'then', 'consequently'],
};

/** Tie-break when two categories' phrases start at the same character: earlier wins. */
export const PRECEDENCE: readonly Behaviour[] = ['backtracking', 'uncertainty-estimation', 'example-testing', 'adding-knowledge', 'initializing', 'deduction'];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One regex per category: any of its phrases as whole words (Unicode letters and digits count as word characters). */
const PATTERNS: ReadonlyMap<Behaviour, RegExp> = new Map(
  BEHAVIOURS.map((b) => {
    const alts = RULES[b].map((p) => escape(p.trim()).replace(/\s+/g, '\\s+') + (/[\p{L}\p{N}]$/u.test(p.trim()) ? '(?![\\p{L}\\p{N}])' : ''));
    return [b, new RegExp(`(?<![\\p{L}\\p{N}'])(?:${alts.join('|')})`, 'giu')];
  }),
);

const TAG = /<\/?think>/g;

/** Sentences of `text` as UTF-16 `[start, end)`, trimmed, thinking tags removed (see the module comment). */
export function sentences(text: string): [number, number][] {
  const out: [number, number][] = [];
  const push = (s: number, e: number) => {
    while (s < e && /\s/.test(text[s]!)) s++;
    while (e > s && /\s/.test(text[e - 1]!)) e--;
    if (e > s) out.push([s, e]);
  };
  // Tags split the text into pieces, each cut into sentences.
  let pieceStart = 0;
  const cut = (from: number, to: number) => {
    let s = from;
    for (let i = from; i < to; i++) {
      const c = text[i]!;
      if (c === '\n') {
        push(s, i);
        s = i + 1;
      } else if ((c === '.' || c === '!' || c === '?') && (i + 1 >= to || /\s/.test(text[i + 1]!))) {
        push(s, i + 1);
        s = i + 1;
      }
    }
    push(s, to);
  };
  for (const m of text.matchAll(TAG)) {
    cut(pieceStart, m.index!);
    pieceStart = m.index! + m[0].length;
  }
  cut(pieceStart, text.length);
  return out;
}

/** The category the rules give the sentence `text.slice(start, end)`, or undefined. */
export function classifySentence(text: string, start: number, end: number): Behaviour | undefined {
  const sentence = text.slice(start, end);
  let best: { at: number; rank: number; b: Behaviour } | undefined;
  for (const b of BEHAVIOURS) {
    const re = PATTERNS.get(b)!;
    re.lastIndex = 0;
    const m = re.exec(sentence);
    if (!m) continue;
    const rank = PRECEDENCE.indexOf(b);
    if (!best || m.index < best.at || (m.index === best.at && rank < best.rank)) best = { at: m.index, rank, b };
  }
  return best?.b;
}

/** The rules' spans of one chain's text (code points), in order, never overlapping. */
export function ruleSpans(chain: string, text: string): Span[] {
  const idx = codePointIndex(text);
  const spans: Span[] = [];
  for (const [s, e] of sentences(text)) {
    const category = classifySentence(text, s, e);
    if (category) spans.push({ chain, start: codePointAt16(idx, s), end: codePointAt16(idx, e), category });
  }
  return spans;
}
