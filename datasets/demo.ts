// The built-in demo dataset: 48 hand-written multiple-choice questions, half reasoning (small
// arithmetic and logic problems) and half memorization (capitals, dates, facts), in the
// MMLU-Pro-with-memory_reason_score format the paper used. It exists so that `layerlab demo`
// and the core tests run the whole pipeline with no downloads; with the random-weight demo model
// the accuracies mean nothing. demoRecords() generates any number of similar records for memory
// and throughput tests.

import * as fs from 'node:fs';
import { sha256Hex } from './read';
import { buildDataset } from './load';
import { mulberry32 } from '../models/common/prng';
import { LETTERS, type Dataset, type QARecord, type Subset } from './records';

/** [question, correct answer, three distractors, MMLU-Pro category] */
type Item = [string, string, [string, string, string], string];

const REASONING: Item[] = [
  ['Tom has 7 apples and buys 5 more. How many apples does he have now?', '12', ['10', '11', '13'], 'math'],
  ['A train travels at 60 km per hour for 3 hours. How far does it travel?', '180 km', ['120 km', '150 km', '200 km'], 'math'],
  ['What is 15% of 200?', '30', ['15', '20', '45'], 'math'],
  ['If 3 pencils cost 45 cents, how much do 7 pencils cost?', '$1.05', ['$0.95', '$1.15', '$1.35'], 'math'],
  ['Sara is twice as old as Ben. Ben is 9. How old will Sara be in 4 years?', '22', ['18', '20', '26'], 'math'],
  ['A rectangle is 8 cm long and 5 cm wide. What is its area?', '40 cm²', ['13 cm²', '26 cm²', '45 cm²'], 'math'],
  ['What is the next number in the sequence 2, 6, 18, 54, ...?', '162', ['108', '148', '72'], 'math'],
  ['All bloops are razzies and all razzies are lazzies. Which statement must be true?', 'All bloops are lazzies',
    ['All lazzies are bloops', 'No razzies are bloops', 'Some lazzies are not razzies'], 'philosophy'],
  ['If it is raining, the ground is wet. The ground is not wet. What follows?', 'It is not raining',
    ['It is raining', 'The ground is wet', 'Nothing follows'], 'philosophy'],
  ['A shop sells a $40 shirt at a 25% discount. What is the sale price?', '$30', ['$10', '$25', '$35'], 'math'],
  ['What is 144 divided by 12, plus 7?', '19', ['17', '18', '21'], 'math'],
  ['A 50-litre tank is 40% full. How many more litres are needed to fill it?', '30', ['20', '25', '35'], 'math'],
  ['If x + 4 = 11, what is 3x?', '21', ['7', '14', '33'], 'math'],
  ['Five friends share 3 pizzas equally. How much pizza does each friend get?', '3/5', ['5/3', '1/2', '2/3'], 'math'],
  ['Anna is taller than Bea, and Bea is taller than Cal. Who is the shortest?', 'Cal', ['Anna', 'Bea', 'It cannot be determined'], 'philosophy'],
  ['A clock shows 3:00. What time will it show 250 minutes later?', '7:10', ['6:10', '6:50', '7:30'], 'math'],
  ['What is the sum of the interior angles of a pentagon?', '540°', ['360°', '450°', '720°'], 'math'],
  ['A number is doubled and then 6 is subtracted, giving 20. What is the number?', '13', ['7', '14', '16'], 'math'],
  ['How many minutes are there in 3.5 hours?', '210', ['180', '200', '240'], 'math'],
  ['A bag holds 3 red and 5 blue marbles. What is the probability of drawing a red marble?', '3/8', ['3/5', '5/8', '1/3'], 'math'],
  ['Which number is a multiple of both 4 and 6?', '24', ['16', '18', '30'], 'math'],
  ['A car uses 6 litres of fuel per 100 km. How much fuel does it need for 250 km?', '15 litres', ['12 litres', '18 litres', '20 litres'], 'math'],
  ['No cats are dogs, and some pets are cats. Which statement must be true?', 'Some pets are not dogs',
    ['All pets are cats', 'Some dogs are pets', 'No pets are dogs'], 'philosophy'],
  ['What is 7 × 8 − 6?', '50', ['48', '52', '56'], 'math'],
];

const MEMORIZATION: Item[] = [
  ['What is the capital of France?', 'Paris', ['Lyon', 'Marseille', 'Nice'], 'other'],
  ['What is the capital of Japan?', 'Tokyo', ['Osaka', 'Kyoto', 'Hiroshima'], 'other'],
  ['What is the capital of Australia?', 'Canberra', ['Sydney', 'Melbourne', 'Perth'], 'other'],
  ['What is the capital of Canada?', 'Ottawa', ['Toronto', 'Vancouver', 'Montreal'], 'other'],
  ['What is the capital of Kenya?', 'Nairobi', ['Mombasa', 'Kisumu', 'Nakuru'], 'other'],
  ['What is the capital of Brazil?', 'Brasília', ['Rio de Janeiro', 'São Paulo', 'Salvador'], 'other'],
  ['In which year did World War II end?', '1945', ['1918', '1939', '1950'], 'history'],
  ['In which year did the Berlin Wall fall?', '1989', ['1961', '1979', '1991'], 'history'],
  ['In which year did Christopher Columbus first reach the Americas?', '1492', ['1453', '1519', '1607'], 'history'],
  ['In which year did Apollo 11 land on the Moon?', '1969', ['1957', '1965', '1972'], 'history'],
  ['In which year was the United States Declaration of Independence signed?', '1776', ['1754', '1789', '1812'], 'history'],
  ['Who was the first President of the United States?', 'George Washington', ['Thomas Jefferson', 'John Adams', 'Abraham Lincoln'], 'history'],
  ['What is the chemical symbol for gold?', 'Au', ['Ag', 'Gd', 'Go'], 'chemistry'],
  ['What is the chemical symbol for sodium?', 'Na', ['So', 'Sd', 'N'], 'chemistry'],
  ["Which gas makes up most of Earth's atmosphere?", 'Nitrogen', ['Oxygen', 'Carbon dioxide', 'Argon'], 'chemistry'],
  ['Which planet is known as the Red Planet?', 'Mars', ['Venus', 'Jupiter', 'Mercury'], 'physics'],
  ['Which organ pumps blood through the human body?', 'The heart', ['The liver', 'The lungs', 'The kidneys'], 'biology'],
  ['How many chromosomes does a typical human body cell have?', '46', ['23', '44', '48'], 'biology'],
  ['Who wrote the play Romeo and Juliet?', 'William Shakespeare', ['Charles Dickens', 'Christopher Marlowe', 'Jane Austen'], 'other'],
  ['Who painted the Mona Lisa?', 'Leonardo da Vinci', ['Michelangelo', 'Raphael', 'Rembrandt'], 'other'],
  ['What is the largest ocean on Earth?', 'The Pacific Ocean', ['The Atlantic Ocean', 'The Indian Ocean', 'The Arctic Ocean'], 'other'],
  ['What is the longest river in South America?', 'The Amazon', ['The Paraná', 'The Orinoco', 'The São Francisco'], 'other'],
  ['Which element has atomic number 1?', 'Hydrogen', ['Helium', 'Oxygen', 'Carbon'], 'chemistry'],
  ['What is the currency of Japan?', 'The yen', ['The won', 'The yuan', 'The ringgit'], 'other'],
];

export const DEMO_DATASET_NAME = 'layerlab-demo';
/** The path a built-in dataset reports (no file on disk unless writeDemoDataset writes one). */
export const DEMO_DATASET_FILE = '<builtin>/layerlab-demo.json';

/** One row of the MMLU-Pro-with-score file format. */
export interface MmluProRow {
  question_id: number;
  question: string;
  options: string[];
  answer: string;
  answer_index: number;
  cot_content: string;
  category: string;
  src: string;
  memory_reason_score: number;
}

/** A deterministic score on the label's side of 0.5: reasoning in [0.60, 0.95], memorization in [0.05, 0.40]. */
function scoreFor(label: Subset, k: number): number {
  const frac = (k * 0.6180339887) % 1; // golden-ratio steps spread the scores evenly
  const base = label === 'reasoning' ? 0.6 : 0.05;
  return Math.round((base + 0.35 * frac) * 100) / 100;
}

/**
 * The 48 rows, reasoning and memorization interleaved (so any prefix is balanced). The correct
 * option's position cycles through D, C, B, A so the answer letters are balanced too.
 */
export function demoRows(): MmluProRow[] {
  const rows: MmluProRow[] = [];
  for (let i = 0; i < REASONING.length; i++) {
    for (const [label, item] of [['reasoning', REASONING[i]!], ['memorization', MEMORIZATION[i]!]] as const) {
      const [question, correct, distractors, category] = item;
      const id = rows.length;
      const pos = (id * 7 + 3) % 4;
      const options = [...distractors];
      options.splice(pos, 0, correct);
      rows.push({
        question_id: id, question, options, answer: LETTERS[pos]!, answer_index: pos, cot_content: '',
        category, src: 'layerlab-demo', memory_reason_score: scoreFor(label, i + 1),
      });
    }
  }
  return rows;
}

/** The exact bytes writeDemoDataset writes; the dataset's contentHash is their sha256. */
export function demoJson(rows: MmluProRow[] = demoRows()): string {
  return JSON.stringify(rows, null, 2) + '\n';
}

/** The demo as a Dataset, built through the same validation and labelling path as a file. */
export function demoDataset(): Dataset {
  const text = demoJson();
  return buildDataset(
    { file: DEMO_DATASET_FILE, format: 'json', contentHash: sha256Hex(Buffer.from(text, 'utf8')), rows: JSON.parse(text) },
    { name: DEMO_DATASET_NAME },
  );
}

/**
 * Writes the demo dataset to a JSON file (loadDataset reads it back as kind mmlu-pro with the
 * score-threshold rule). With { n, seed } it writes the generated variant instead.
 */
export function writeDemoDataset(file: string, opts: { n?: number; seed?: number } = {}): void {
  const rows = opts.n === undefined ? demoRows() : toMmluProRows(demoRecords(opts.n, opts.seed ?? 0));
  fs.writeFileSync(file, demoJson(rows));
}

/** Records back to the file format (question_id becomes the position). */
export function toMmluProRows(records: readonly QARecord[]): MmluProRow[] {
  return records.map((r, i) => {
    const answerIndex = LETTERS.indexOf(r.answer ?? '');
    if (answerIndex < 0 || r.score === undefined || r.category === undefined) {
      throw new Error(`record ${r.id} lacks an answer letter, score or category, which the MMLU-Pro format needs`);
    }
    return {
      question_id: i, question: r.question, options: [...r.options], answer: r.answer!, answer_index: answerIndex,
      cot_content: r.cot ?? '', category: r.category, src: 'layerlab-demo-generated', memory_reason_score: r.score,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Generated variant

const CAPITALS: [string, string][] = [
  ['France', 'Paris'], ['Japan', 'Tokyo'], ['Australia', 'Canberra'], ['Canada', 'Ottawa'], ['Kenya', 'Nairobi'],
  ['Brazil', 'Brasília'], ['Italy', 'Rome'], ['Spain', 'Madrid'], ['Germany', 'Berlin'], ['Egypt', 'Cairo'],
  ['India', 'New Delhi'], ['Mexico', 'Mexico City'], ['Norway', 'Oslo'], ['Peru', 'Lima'], ['Turkey', 'Ankara'],
  ['Vietnam', 'Hanoi'], ['Poland', 'Warsaw'], ['Argentina', 'Buenos Aires'], ['Nigeria', 'Abuja'], ['Sweden', 'Stockholm'],
  ['Portugal', 'Lisbon'], ['Greece', 'Athens'], ['Thailand', 'Bangkok'], ['Chile', 'Santiago'], ['Ireland', 'Dublin'],
];

const EVENTS: [string, number][] = [
  ['World War II end', 1945], ['the Berlin Wall fall', 1989], ['Apollo 11 land on the Moon', 1969],
  ['the French Revolution begin', 1789], ['World War I begin', 1914], ['the Titanic sink', 1912],
  ['Columbus first reach the Americas', 1492], ['the Soviet Union dissolve', 1991], ['the Battle of Hastings take place', 1066],
  ['Gutenberg print his Bible', 1455], ['the Wright brothers first fly a powered aeroplane', 1903], ['Nelson Mandela become President of South Africa', 1994],
];

const SYMBOLS: [string, string][] = [
  ['gold', 'Au'], ['silver', 'Ag'], ['sodium', 'Na'], ['potassium', 'K'], ['iron', 'Fe'], ['lead', 'Pb'],
  ['copper', 'Cu'], ['tin', 'Sn'], ['mercury', 'Hg'], ['helium', 'He'], ['carbon', 'C'], ['oxygen', 'O'],
];

const NAMES = ['Ana', 'Ben', 'Chen', 'Dara', 'Eli', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jun'];
const THINGS = ['apples', 'marbles', 'stickers', 'books', 'coins', 'shells'];

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

/** Three distinct numbers near `answer`, none equal to it, none negative. */
function numericDistractors(rand: Rand, answer: number): number[] {
  const out = new Set<number>();
  const steps = [1, 2, 3, 5, 10, Math.max(1, Math.round(answer * 0.1))];
  while (out.size < 3) {
    const d = pick(rand, steps) * (rand() < 0.5 ? -1 : 1);
    const v = answer + d;
    if (v >= 0 && v !== answer) out.add(v);
  }
  return [...out];
}

/** Distinct distractors drawn from a pool, excluding the answer. */
function poolDistractors<T>(rand: Rand, pool: readonly T[], answer: T): T[] {
  const out: T[] = [];
  while (out.length < 3) {
    const v = pick(rand, pool);
    if (v !== answer && !out.includes(v)) out.push(v);
  }
  return out;
}

function generateReasoning(rand: Rand): Item {
  switch (int(rand, 0, 4)) {
    case 0: {
      const a = int(rand, 10, 999), b = int(rand, 10, 999);
      return [`What is ${a} + ${b}?`, String(a + b), numericDistractors(rand, a + b).map(String) as Item[2], 'math'];
    }
    case 1: {
      const name = pick(rand, NAMES), thing = pick(rand, THINGS), a = int(rand, 20, 90), b = int(rand, 1, 19);
      return [`${name} has ${a} ${thing} and gives away ${b}. How many ${thing} are left?`, String(a - b), numericDistractors(rand, a - b).map(String) as Item[2], 'math'];
    }
    case 2: {
      const a = int(rand, 2, 30), b = int(rand, 2, 30);
      return [`What is ${a} × ${b}?`, String(a * b), numericDistractors(rand, a * b).map(String) as Item[2], 'math'];
    }
    case 3: {
      const v = int(rand, 5, 40), t = int(rand, 2, 6);
      return [`A cyclist rides at ${v} km/h for ${t} hours. How far does she ride?`, `${v * t} km`,
        numericDistractors(rand, v * t).map((d) => `${d} km`) as Item[2], 'math'];
    }
    default: {
      const p = pick(rand, [5, 10, 20, 25, 50]), x = 20 * int(rand, 1, 30), ans = (p * x) / 100;
      return [`What is ${p}% of ${x}?`, String(ans), numericDistractors(rand, ans).map(String) as Item[2], 'math'];
    }
  }
}

function generateMemorization(rand: Rand): Item {
  switch (int(rand, 0, 2)) {
    case 0: {
      const [country, capital] = pick(rand, CAPITALS);
      return [`What is the capital of ${country}?`, capital, poolDistractors(rand, CAPITALS.map((c) => c[1]), capital) as Item[2], 'other'];
    }
    case 1: {
      const [event, year] = pick(rand, EVENTS);
      return [`In which year did ${event}?`, String(year), numericDistractors(rand, year).map(String) as Item[2], 'history'];
    }
    default: {
      const [element, symbol] = pick(rand, SYMBOLS);
      return [`What is the chemical symbol for ${element}?`, symbol, poolDistractors(rand, SYMBOLS.map((s) => s[1]), symbol) as Item[2], 'chemistry'];
    }
  }
}

/**
 * n generated demo records (about half of each label), fully determined by (n, seed): record i
 * does not depend on n, so demoRecords(100, s) is a prefix of demoRecords(2000, s). Ids are
 * "gen-<seed>-<i>".
 */
export function demoRecords(n: number, seed: number): QARecord[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const rand = mulberry32(seed);
  const out: QARecord[] = [];
  for (let i = 0; i < n; i++) {
    const label: Subset = rand() < 0.5 ? 'reasoning' : 'memorization';
    const [question, correct, distractors, category] = label === 'reasoning' ? generateReasoning(rand) : generateMemorization(rand);
    const pos = int(rand, 0, 3);
    const options = [...distractors];
    options.splice(pos, 0, correct);
    out.push({
      id: `gen-${seed}-${i}`, index: i, question, options, answer: LETTERS[pos]!, category,
      score: label === 'reasoning' ? Math.round((0.55 + 0.45 * rand()) * 100) / 100 : Math.round(0.5 * rand() * 100) / 100,
      label,
    });
  }
  return out;
}
