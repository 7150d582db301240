// The model organism's tasks: multiple-choice items in the MMLU-Pro-with-memory_reason_score
// format, of two kinds that a small model can learn in minutes and that differ in *how* the
// answer is found:
//   reasoning     the answer is computed by a rule from digits written in the question
//                 ("What is (max + 1) mod 10 of 3 8 1 6?", "What is the min of 3 8 1 6?"), so a
//                 test question is a list the model never saw in training;
//   memorization  the answer is an arbitrary fact (invented person → invented city or year),
//                 fixed by the seed, so it can only be recalled: a test question asks about a
//                 fact the training split taught (often in the very same words; recall is what it
//                 measures).
// Every item has exactly ten options (A–J, chance 10%): its category's whole answer set in
// sorted order (digits 0–9, cities alphabetically, years ascending), as multiple-choice tests
// list numbers. The option order is fixed so that a model shown only the question (the paper's
// bare prompt, which is what the organism is trained on) can still name the letter.
//
// Everything is a function of the seed (mulberry32, the one PRNG of models/common/prng.ts): the
// same seed gives the same facts and the same items on every machine.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MmluProRow } from './demo';
import { mulberry32 } from '../models/common/prng';
import { LETTERS, type Subset } from './records';

/** MMLU-Pro category names, two per kind (few-shot examples are chosen per category). */
export const ORGANISM_CATEGORIES = {
  reasoning: ['math', 'computer science'],
  memorization: ['other', 'history'],
} as const satisfies Record<Subset, readonly string[]>;
export type OrganismCategory = (typeof ORGANISM_CATEGORIES)[Subset][number];
/** In the order items cycle through, so every prefix of a split is balanced. */
export const ORGANISM_CATEGORY_ORDER: readonly OrganismCategory[] = ['math', 'other', 'computer science', 'history'];

export function organismSubsetOf(c: OrganismCategory): Subset {
  return (ORGANISM_CATEGORIES.reasoning as readonly string[]).includes(c) ? 'reasoning' : 'memorization';
}

export interface OrganismTaskOptions {
  /** Fixes the facts and every split. */
  seed?: number;
  /** Invented people per memorization category. */
  factsPerCategory?: number;
  /** Items in the training split (divided equally among the four categories). */
  train?: number;
  /** Items in the test split. */
  test?: number;
  /** Few-shot examples per category in the validation split (MMLU-Pro has 5). */
  shots?: number;
}

export const ORGANISM_TASK_DEFAULTS: Readonly<Required<OrganismTaskOptions>> = Object.freeze({
  seed: 16,
  factsPerCategory: 30,
  train: 24000,
  test: 800,
  shots: 5,
});

/** Lists in reasoning questions have this many digits (inclusive range). */
const LIST_LENGTH = [4, 6] as const;
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const CONSONANTS = 'bdfgklmnprstvz';
const VOWELS = 'aeiou';

type Rand = () => number;
const below = (rand: Rand, n: number): number => Math.floor(rand() * n);

function shuffled<T>(rand: Rand, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = below(rand, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** An invented word of `syllables` consonant-vowel pairs, optionally closed by a consonant. */
function word(rand: Rand, syllables: number, closed: boolean): string {
  let w = '';
  for (let s = 0; s < syllables; s++) w += CONSONANTS[below(rand, CONSONANTS.length)]! + VOWELS[below(rand, VOWELS.length)]!;
  if (closed) w += CONSONANTS[below(rand, CONSONANTS.length)]!;
  return w[0]!.toUpperCase() + w.slice(1);
}

/** `n` distinct invented words, none in `taken` (which it extends). */
function distinctWords(rand: Rand, n: number, taken: Set<string>, make: (rand: Rand) => string): string[] {
  const out: string[] = [];
  while (out.length < n) {
    const w = make(rand);
    if (!taken.has(w)) {
      taken.add(w);
      out.push(w);
    }
  }
  return out;
}

export interface OrganismFact {
  category: 'other' | 'history';
  person: string;
  answer: string;
}

export interface OrganismFacts {
  /** The ten answers of each memorization category (its options). */
  cities: string[];
  years: string[];
  facts: OrganismFact[];
}

/**
 * The invented world the memorization items ask about: ten cities, ten years, and people each
 * assigned one of them. Assignments go round-robin over a shuffled answer list, so every answer
 * belongs to the same number of people (give or take one) and no letter or value is a good guess.
 */
export function organismFacts(opts: OrganismTaskOptions = {}): OrganismFacts {
  const o = resolve(opts);
  const rand = mulberry32(o.seed);
  const taken = new Set<string>();
  const cities = distinctWords(rand, 10, taken, (r) => word(r, 1 + below(r, 2), true));
  const years: string[] = [];
  while (years.length < 10) {
    const y = String(1000 + below(rand, 1000));
    if (!years.includes(y)) years.push(y);
  }
  cities.sort();
  years.sort((a, b) => Number(a) - Number(b));
  const facts: OrganismFact[] = [];
  for (const [category, answers] of [['other', cities], ['history', years]] as const) {
    const people = distinctWords(rand, o.factsPerCategory, taken, (r) => word(r, 2 + below(r, 2), false));
    const order = shuffled(rand, answers);
    people.forEach((person, i) => facts.push({ category, person, answer: order[i % order.length]! }));
  }
  return { cities, years, facts };
}

interface Draft {
  category: OrganismCategory;
  question: string;
  /** The correct option's text. */
  answer: string;
  /** All ten option texts, in their sorted order. */
  answers: readonly string[];
  /** Items with the same key are the same question: no key is in two splits. */
  key: string;
}

function reasoningDraft(rand: Rand, category: 'math' | 'computer science'): Draft {
  const n = LIST_LENGTH[0] + below(rand, LIST_LENGTH[1] - LIST_LENGTH[0] + 1);
  const xs = Array.from({ length: n }, () => below(rand, 10));
  const list = xs.join(' ');
  const [question, value] = category === 'math'
    ? [`What is (max + 1) mod 10 of ${list}?`, (Math.max(...xs) + 1) % 10]
    : [`What is the min of ${list}?`, Math.min(...xs)];
  return { category, question, answer: String(value), answers: DIGITS, key: question };
}

function memorizationDraft(rand: Rand, category: 'other' | 'history', world: OrganismFacts): Draft {
  const facts = world.facts.filter((f) => f.category === category);
  const f = facts[below(rand, facts.length)]!;
  const question = category === 'other' ? `Where does ${f.person} live?` : `In what year was ${f.person} crowned?`;
  return { category, question, answer: f.answer, answers: category === 'other' ? world.cities : world.years, key: '' };
}

function draftOf(rand: Rand, category: OrganismCategory, world: OrganismFacts): Draft {
  return category === 'math' || category === 'computer science' ? reasoningDraft(rand, category) : memorizationDraft(rand, category, world);
}

/** memory_reason_score on the label's side of 0.5 (reasoning 0.55–0.95, memorization 0.05–0.45). */
function scoreOf(rand: Rand, label: Subset): number {
  const base = label === 'reasoning' ? 0.55 : 0.05;
  return Math.round((base + 0.4 * rand()) * 100) / 100;
}

export type OrganismSplit = 'train' | 'validation' | 'test';
/** question_id ranges keep ids unique across the three files. */
const ID_BASE: Record<OrganismSplit, number> = { test: 0, validation: 100_000, train: 200_000 };

/**
 * The three splits. The test split is drawn first, then validation, then train; a reasoning
 * question already drawn is drawn again, so no list appears twice in a split or in two splits
 * (memorization questions repeat by nature). Each split cycles through ORGANISM_CATEGORY_ORDER.
 */
export function organismSplits(opts: OrganismTaskOptions = {}): Record<OrganismSplit, MmluProRow[]> & { facts: OrganismFacts } {
  const o = resolve(opts);
  const world = organismFacts(o);
  const used = new Set<string>();
  const make = (split: OrganismSplit, n: number, stream: number): MmluProRow[] => {
    const rand = mulberry32((o.seed * 7919 + stream) >>> 0);
    const rows: MmluProRow[] = [];
    for (let i = 0; i < n; i++) {
      const category = ORGANISM_CATEGORY_ORDER[i % ORGANISM_CATEGORY_ORDER.length]!;
      let d = draftOf(rand, category, world);
      while (d.key && used.has(d.key)) d = draftOf(rand, category, world);
      const label = organismSubsetOf(category);
      const options = [...d.answers];
      const answerIndex = options.indexOf(d.answer);
      rows.push({
        question_id: ID_BASE[split] + i, question: d.question, options, answer: LETTERS[answerIndex]!, answer_index: answerIndex,
        cot_content: '', category, src: `layerlab-organism-${split}`, memory_reason_score: scoreOf(rand, label),
      });
      if (d.key) used.add(d.key);
    }
    return rows;
  };
  const test = make('test', o.test, 1);
  const validation = make('validation', o.shots * ORGANISM_CATEGORY_ORDER.length, 2);
  const train = make('train', o.train, 3);
  return { test, validation, train, facts: world };
}

/** Writes `organism-{train,validation,test}.json` (MMLU-Pro files) into `dir`; returns their paths. */
export function writeOrganismDataset(dir: string, opts: OrganismTaskOptions = {}, splits: readonly OrganismSplit[] = ['train', 'validation', 'test']): Record<OrganismSplit, string> {
  const all = organismSplits(opts);
  fs.mkdirSync(dir, { recursive: true });
  const files = {} as Record<OrganismSplit, string>;
  for (const s of ['train', 'validation', 'test'] as const) {
    files[s] = path.resolve(dir, `organism-${s}.json`);
    if (splits.includes(s)) fs.writeFileSync(files[s], JSON.stringify(all[s], null, 1) + '\n');
  }
  return files;
}

function resolve(opts: OrganismTaskOptions): Required<OrganismTaskOptions> {
  const o: Required<OrganismTaskOptions> = { ...ORGANISM_TASK_DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  for (const k of ['factsPerCategory', 'train', 'test', 'shots'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new RangeError(`organism ${k} must be a non-negative integer, got ${o[k]}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new RangeError(`organism seed must be an integer, got ${o.seed}`);
  return o;
}
