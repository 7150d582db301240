// Answer extraction and scoring. Multiple-choice extraction reproduces the seed exactly by
// default, so LayerLab's accuracies can be compared with the paper's; differences from the seed
// are opt-in and named.

import type { QARecord } from './records';

/**
 * The seed's pattern: `re.search(r"answer is \(?([A-J])\)?", text)`, no flags, first match wins.
 * Consequences kept on purpose (they are what the paper measured):
 * - case-sensitive: "the answer is (B)" and "The answer is B" match, "Answer is B" and
 *   "ANSWER IS B" do not, and a lowercase letter ("the answer is (b)") does not;
 * - no word boundary after the letter: "the answer is Alice" parses as "A".
 */
export const SEED_CHOICE_PATTERN = /answer is \(?([A-J])\)?/;

/**
 * Lenient variant (opt-in): "Answer is", "ANSWER IS", an optional colon ("answer is: C"), and the
 * letter must not run into a word ("the answer is Alice" does not parse). Letters stay uppercase
 * so that "the answer is a ..." is not read as option A.
 */
export const LENIENT_CHOICE_PATTERN = /(?:[Aa]nswer|ANSWER) (?:is|IS):?\s*\(?([A-J])\)?(?![A-Za-z])/;

export interface ChoiceOptions {
  /** Use LENIENT_CHOICE_PATTERN instead of the seed's. Default false. */
  lenient?: boolean;
}

/** The option letter a generation commits to, or null. */
export function extractChoice(text: string, opts: ChoiceOptions = {}): { parsed: string | null } {
  const m = (opts.lenient ? LENIENT_CHOICE_PATTERN : SEED_CHOICE_PATTERN).exec(text);
  return { parsed: m ? m[1]! : null };
}

/**
 * The number a GSM8K generation commits to: the first "The final answer is N" (the seed's
 * phrase), else the last number anywhere in the text (the seed's dataset-side extractor; its
 * scorer had no fallback and counted such answers wrong). Commas and "$" are removed, a negative
 * sign is kept, and the value is normalised ("18.00" → "18") so that it compares with the
 * record's answer as a string.
 */
export function extractNumber(text: string): { parsed: string | null; method: 'final-answer' | 'last-number' | null } {
  const final = /The final answer is\s*\$?\s*(-?[\d,]*\.?\d+)/.exec(text);
  if (final) {
    const n = canonicalNumber(final[1]!);
    if (n !== null) return { parsed: n, method: 'final-answer' };
  }
  const all = text.replace(/(\d),(?=\d{3}\b)/g, '$1').match(/-?\d+(?:\.\d+)?/g);
  if (all && all.length) {
    const n = canonicalNumber(all[all.length - 1]!);
    if (n !== null) return { parsed: n, method: 'last-number' };
  }
  return { parsed: null, method: null };
}

function canonicalNumber(s: string): string | null {
  const v = Number(s.replace(/[,$]/g, ''));
  return Number.isFinite(v) ? String(v) : null;
}

/** PopQA-style: the first alias that occurs in the text, case-insensitively. */
export function matchAlias(text: string, aliases: readonly string[]): string | null {
  const hay = text.toLowerCase();
  for (const a of aliases) {
    const needle = a.trim().toLowerCase();
    if (needle !== '' && hay.includes(needle)) return a;
  }
  return null;
}

export type ScoreMode = 'choice' | 'number' | 'alias';

export interface ItemScore {
  /** Multiple choice: the letter; GSM8K: the number; PopQA: the alias found. Null if none. */
  parsed: string | null;
  correct: boolean;
  /**
   * No answer could be read (choice, number). Unparsed items count as wrong, as in the seed; the
   * flag lets reports show how many. Alias matching has no parse step, so it is never unparsed.
   */
  unparsed: boolean;
}

/** How a record is scored: options → choice, aliases → alias, otherwise its numeric answer. */
export function scoreModeOf(record: QARecord): ScoreMode {
  if (record.options.length > 0) return 'choice';
  if (record.aliases && record.aliases.length > 0) return 'alias';
  if (record.answer !== undefined) return 'number';
  throw new Error(`record ${record.id} has no options, aliases or answer, so it cannot be scored`);
}

export function scoreItem(record: QARecord, generatedText: string, opts: ChoiceOptions & { mode?: ScoreMode } = {}): ItemScore {
  const mode = opts.mode ?? scoreModeOf(record);
  switch (mode) {
    case 'choice': {
      const { parsed } = extractChoice(generatedText, opts);
      return { parsed, correct: parsed !== null && parsed === record.answer, unparsed: parsed === null };
    }
    case 'number': {
      const { parsed } = extractNumber(generatedText);
      const want = record.answer !== undefined ? canonicalNumber(record.answer) : null;
      return { parsed, correct: parsed !== null && want !== null && Number(parsed) === Number(want), unparsed: parsed === null };
    }
    case 'alias': {
      const parsed = matchAlias(generatedText, record.aliases ?? []);
      return { parsed, correct: parsed !== null, unparsed: false };
    }
  }
}

export interface Interval {
  /** c / n (NaN when n = 0). */
  p: number;
  lo: number;
  hi: number;
}

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * Wilson score interval for c successes in n trials. Chosen over the normal approximation because
 * evaluation subsets are small (tens to hundreds) and accuracies near 0 or 1 are common, where the
 * normal interval leaves [0, 1] or collapses to a point.
 */
export function wilson(c: number, n: number, z = Z95): Interval {
  if (!Number.isInteger(c) || !Number.isInteger(n) || c < 0 || n < 0 || c > n) {
    throw new RangeError(`wilson(c, n) needs integers 0 ≤ c ≤ n, got c=${c}, n=${n}`);
  }
  if (n === 0) return { p: NaN, lo: 0, hi: 1 };
  const p = c / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { p, lo: Math.max(0, center - half), hi: Math.min(1, center + half) };
}
