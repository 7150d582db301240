// Few-shot prompts for command 2 of the seed. Every builder returns the prompt in two parts:
// `prefix` (the examples, identical for every question that shares them) and `query` (the
// question itself), so that evaluation can run the prefix once, keep its KV cache and only
// process each query. The full prompt is always prefix + query.
//
// Note for the caller: tokenizing prefix and query separately is only equivalent to tokenizing
// prefix + query when no token spans the boundary. Every prefix here ends in "\n\n" and every
// query starts with "Q" or "  Q", which BPE vocabularies normally keep apart, but a KV-cache
// reuse should still check that tokens(prefix) is a prefix of tokens(prefix + query).

import { readTable, sha256Hex } from './read';
import { demoRecords, demoRows } from './demo';
import { normaliseRows } from './kinds';
import { optionsBlock } from './prompts';
import type { QARecord } from './records';

export interface FewShotPrompt {
  /** The examples (may be ''). Shared by every question of a category: cache it. */
  prefix: string;
  /** The per-question part; the model continues after it. */
  query: string;
}

// ---------------------------------------------------------------------------------------------
// MMLU-Pro, 5-shot by category

/**
 * Exact strings, per SEED.md:
 *   example, no CoT:  `Q: {q}\n{options}\nA: The answer is ({X}).\n\n`
 *   example, CoT:     `Q: {q}\n{options}\n{cot_content}\n\n`
 *   query, no CoT:    `Q: {q}\n{options}\nA: `
 *   query, CoT:       `Q: {q}\n{options}\nA: Let's think step by step. `
 * {options} is the same block command 1 uses: `Options are:\n(A): opt\n(B): opt` (no trailing
 * newline). MMLU-Pro's cot_content already begins with "A: Let's think step by step." and ends
 * with "The answer is (X).", so CoT examples and the CoT query line up.
 * (The seed's Python differed in whitespace: its options block ended in "\n" and was followed by
 * "\n", and its no-CoT examples lacked "A: "; LayerLab follows SEED.md.)
 */
export function mmluProExample(r: QARecord, cot: boolean): string {
  if (cot) {
    if (!r.cot) throw new Error(`few-shot example ${r.id} has no cot_content, which a chain-of-thought prompt needs`);
    return `Q: ${r.question}\n${optionsBlock(r.options)}\n${r.cot}\n\n`;
  }
  if (!r.answer) throw new Error(`few-shot example ${r.id} has no answer`);
  return `Q: ${r.question}\n${optionsBlock(r.options)}\nA: The answer is (${r.answer}).\n\n`;
}

export function mmluProQuery(r: QARecord, cot: boolean): string {
  return `Q: ${r.question}\n${optionsBlock(r.options)}\n${cot ? "A: Let's think step by step. " : 'A: '}`;
}

/**
 * MMLU subject → MMLU-Pro category, derived from the `src` field ("ori_mmlu-<subject>") of the
 * MMLU-Pro test split. It lets MMLU-based files (the reason-mem set, whose `Subject` is an MMLU
 * subject) use MMLU-Pro's per-category few-shot examples. moral_scenarios is not in MMLU-Pro (it
 * was dropped); it goes to philosophy with its sibling moral_disputes.
 */
export const MMLU_SUBJECT_TO_PRO_CATEGORY: Readonly<Record<string, string>> = {
  abstract_algebra: 'math', anatomy: 'health', astronomy: 'physics', business_ethics: 'business',
  clinical_knowledge: 'health', college_biology: 'biology', college_chemistry: 'chemistry',
  college_computer_science: 'computer science', college_mathematics: 'math', college_medicine: 'health',
  college_physics: 'physics', computer_security: 'computer science', conceptual_physics: 'physics',
  econometrics: 'economics', electrical_engineering: 'engineering', elementary_mathematics: 'math',
  formal_logic: 'philosophy', global_facts: 'other', high_school_biology: 'biology',
  high_school_chemistry: 'chemistry', high_school_computer_science: 'computer science',
  high_school_european_history: 'history', high_school_geography: 'other',
  high_school_government_and_politics: 'other', high_school_macroeconomics: 'economics',
  high_school_mathematics: 'math', high_school_microeconomics: 'economics', high_school_physics: 'physics',
  high_school_psychology: 'psychology', high_school_statistics: 'math', high_school_us_history: 'history',
  high_school_world_history: 'history', human_aging: 'health', human_sexuality: 'other',
  international_law: 'law', jurisprudence: 'law', logical_fallacies: 'philosophy',
  machine_learning: 'computer science', management: 'business', marketing: 'business',
  medical_genetics: 'health', miscellaneous: 'other', moral_disputes: 'philosophy',
  moral_scenarios: 'philosophy', nutrition: 'health', philosophy: 'philosophy', prehistory: 'history',
  professional_accounting: 'other', professional_law: 'law', professional_medicine: 'health',
  professional_psychology: 'psychology', public_relations: 'other', security_studies: 'other',
  sociology: 'other', us_foreign_policy: 'other', virology: 'health', world_religions: 'philosophy',
};

export interface MmluProFewShotOptions {
  /** Chain-of-thought examples and query (the seed's --with_cot). Default false. */
  cot?: boolean;
  /** Examples per category; default 5 (MMLU-Pro's validation split has exactly 5 per category). */
  shots?: number;
}

export interface MmluProFewShotSpec {
  kind: 'mmlu-pro-fewshot';
  cot: boolean;
  shots: number;
  /** The ids of the examples used, per category, in prompt order. */
  examples: Record<string, string[]>;
  source?: { file: string; contentHash: string };
}

/** Per-category 5-shot prompts; build once, render every question. */
export class MmluProFewShot {
  readonly cot: boolean;
  readonly shots: number;
  private readonly byCategory = new Map<string, QARecord[]>();
  private readonly prefixes = new Map<string, string>();

  constructor(examples: readonly QARecord[], opts: MmluProFewShotOptions = {}, readonly source?: { file: string; contentHash: string }) {
    this.cot = opts.cot ?? false;
    this.shots = opts.shots ?? 5;
    if (!Number.isInteger(this.shots) || this.shots < 0) throw new RangeError(`shots must be a non-negative integer, got ${this.shots}`);
    // File order within a category, as the seed concatenated the validation split in order.
    for (const r of examples) {
      if (!r.category) throw new Error(`few-shot example ${r.id} has no category`);
      const list = this.byCategory.get(r.category) ?? [];
      list.push(r);
      this.byCategory.set(r.category, list);
    }
  }

  get categories(): string[] {
    return [...this.byCategory.keys()];
  }

  /**
   * The few-shot category of a record: its own category when examples exist for it, else its
   * MMLU subject mapped to the MMLU-Pro category.
   */
  categoryOf(r: QARecord): string {
    const c = r.category;
    if (c === undefined) throw new Error(`record ${r.id} has no category, so it has no few-shot examples`);
    if (this.byCategory.has(c)) return c;
    const mapped = MMLU_SUBJECT_TO_PRO_CATEGORY[c];
    if (mapped !== undefined && this.byCategory.has(mapped)) return mapped;
    throw new Error(`no few-shot examples for category "${c}" of record ${r.id}; the examples cover ${this.categories.map((k) => `"${k}"`).join(', ')}`);
  }

  /** The shared prefix of a category (the examples), built once. */
  prefix(category: string): string {
    const cached = this.prefixes.get(category);
    if (cached !== undefined) return cached;
    const list = this.byCategory.get(category) ?? [];
    if (list.length < this.shots) {
      throw new Error(`category "${category}" has ${list.length} few-shot examples but ${this.shots} are needed`);
    }
    const p = list.slice(0, this.shots).map((r) => mmluProExample(r, this.cot)).join('');
    this.prefixes.set(category, p);
    return p;
  }

  render(r: QARecord): FewShotPrompt {
    return { prefix: this.prefix(this.categoryOf(r)), query: mmluProQuery(r, this.cot) };
  }

  describe(): MmluProFewShotSpec {
    const examples: Record<string, string[]> = {};
    for (const [c, list] of this.byCategory) examples[c] = list.slice(0, this.shots).map((r) => r.id);
    const spec: MmluProFewShotSpec = { kind: 'mmlu-pro-fewshot', cot: this.cot, shots: this.shots, examples };
    if (this.source) spec.source = { ...this.source };
    return spec;
  }
}

/** Few-shot prompts from MMLU-Pro's validation split (validation.json, its parquet, or JSONL). */
export async function loadMmluProFewShot(file: string, opts: MmluProFewShotOptions = {}): Promise<MmluProFewShot> {
  const table = await readTable(file);
  const { records } = normaliseRows(table, 'mmlu-pro');
  return new MmluProFewShot(records, opts, { file, contentHash: table.contentHash });
}

// ---------------------------------------------------------------------------------------------
// GSM8K, 8-shot chain of thought

export interface Gsm8kExample {
  question: string;
  /** The worked reasoning, without "The final answer is N." */
  reasoning: string;
  answer: string;
}

export const GSM8K_HEADER = 'As an expert problem solver, solve step by step the following mathematical questions.';

/**
 * The seed's eight exemplars (the chain-of-thought exemplars of Wei et al. 2022). Their reasoning
 * ends "The answer is N." and the prompt then adds "The final answer is N.", exactly as the seed's
 * template reads.
 */
export const GSM8K_SEED_EXAMPLES: readonly Gsm8kExample[] = [
  { question: 'There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?',
    reasoning: 'There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.', answer: '6' },
  { question: 'If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?',
    reasoning: 'There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.', answer: '5' },
  { question: 'Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?',
    reasoning: 'Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39.', answer: '39' },
  { question: 'Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?',
    reasoning: 'Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8.', answer: '8' },
  { question: 'Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?',
    reasoning: 'Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9.', answer: '9' },
  { question: 'There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?',
    reasoning: 'There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.', answer: '29' },
  { question: 'Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?',
    reasoning: 'Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.', answer: '33' },
  { question: 'Olivia has $23. She bought five bagels for $3 each. How much money does she have left?',
    reasoning: 'Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.', answer: '8' },
];

/**
 * Examples from GSM8K-format records (kind gsm8k keeps each worked solution as `cot`): the first
 * `shots` records that have a solution, in file order, with the calculator annotations
 * ("<<16-3-4=9>>") removed and the lines joined by spaces. Take them from a training file; if they
 * come from the file being evaluated, leave the returned ids out of the evaluation.
 */
export function gsm8kExamplesFromRecords(records: readonly QARecord[], shots = 8): { examples: Gsm8kExample[]; ids: string[] } {
  const usable = records.filter((r) => r.cot && r.answer !== undefined).slice(0, shots);
  if (usable.length < shots) throw new Error(`only ${usable.length} records with worked solutions; ${shots} GSM8K examples are needed`);
  return {
    examples: usable.map((r) => ({
      question: r.question,
      reasoning: r.cot!.replace(/<<[^>]*>>/g, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' '),
      answer: r.answer!,
    })),
    ids: usable.map((r) => r.id),
  };
}

export interface Gsm8kFewShotOptions {
  /** Default: the seed's eight exemplars. */
  examples?: readonly Gsm8kExample[];
  /** Written before every Q:/A: line. The seed's template had "  " (two spaces, from Python
   * indentation inside a triple-quoted string); pass indent: '  ' to reproduce it byte for byte. */
  indent?: string;
  /** Default GSM8K_HEADER; '' for none. */
  header?: string;
}

export function gsm8kFewShot(r: QARecord, opts: Gsm8kFewShotOptions = {}): FewShotPrompt {
  const ind = opts.indent ?? '';
  const header = opts.header ?? GSM8K_HEADER;
  const examples = opts.examples ?? GSM8K_SEED_EXAMPLES;
  const shots = examples
    .map((e) => `${ind}Q: ${e.question}\n${ind}A: Let's think step by step. ${e.reasoning} The final answer is ${e.answer}.\n\n`)
    .join('');
  return {
    prefix: (header ? `${header}\n\n` : '') + shots,
    query: `${ind}Q: ${r.question}\n${ind}A: Let's think step by step. `,
  };
}

// ---------------------------------------------------------------------------------------------
// Zero-shot open questions

/** PopQA zero-shot, as in the PopQA paper: `Q: {question} A:`. (The seed used `Q: {q}\n\nA: `.) */
export function popqaPrompt(r: QARecord): FewShotPrompt {
  return { prefix: '', query: `Q: ${r.question} A:` };
}

/** Factual recall: the prompt is already a sentence prefix for the model to complete. */
export function factualRecallPrompt(r: QARecord): FewShotPrompt {
  return { prefix: '', query: r.question };
}

// ---------------------------------------------------------------------------------------------
// The built-in demo dataset's own few-shot examples

/** The generator seed of the demo few-shot examples (any fixed value; recorded through describe()). */
export const DEMO_FEWSHOT_SEED = 20250;

/**
 * Five examples per category of the built-in demo dataset, so that `--with_fewshot_prompts` works
 * on the demo with no MMLU-Pro file. They are generated questions (demoRecords with a fixed seed),
 * never one of the 48 demo questions: a few-shot example that is also a test question would hand
 * the model its answer. Categories the generator does not produce (philosophy, physics, biology)
 * borrow generated questions of other categories: with the random-weight demo model the content
 * does not matter, only that each category has its own fixed prefix, as MMLU-Pro's do. Every
 * example carries a CoT text ending in "The answer is (X)." so --with_cot works too.
 */
export function demoMmluProFewShot(opts: MmluProFewShotOptions = {}): MmluProFewShot {
  const shots = opts.shots ?? 5;
  const demo = demoRows();
  const taken = new Set(demo.map((r) => r.question));
  const categories = [...new Set(demo.map((r) => r.category))];
  const pool = demoRecords(400, DEMO_FEWSHOT_SEED).filter((r) => !taken.has(r.question));
  const used = new Set<string>();
  const examples: QARecord[] = [];
  for (const category of categories) {
    const own = pool.filter((r) => r.category === category && !used.has(r.id));
    const other = pool.filter((r) => r.category !== category && !used.has(r.id));
    for (const r of [...own, ...other].slice(0, shots)) {
      used.add(r.id);
      examples.push({ ...r, category, cot: `A: Let's think step by step. The answer is (${r.answer}).` });
    }
  }
  const text = JSON.stringify(examples.map((r) => [r.id, r.category, r.question, r.options, r.answer]));
  return new MmluProFewShot(examples, { ...opts, shots }, { file: DEMO_FEWSHOT_SOURCE, contentHash: sha256Hex(Buffer.from(text, 'utf8')) });
}

/** What runs record as the few-shot source of the demo examples (no file on disk). */
export const DEMO_FEWSHOT_SOURCE = '<builtin>/layerlab-demo-fewshot';
