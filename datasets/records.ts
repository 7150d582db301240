// The normalised question record that the rest of LayerLab (caches, directions, evaluation,
// webviews) works with. Every dataset kind is converted into this one shape at load time so that
// no other module ever needs to know whether a question came from MMLU-Pro, GSM8K or PopQA.

/** The two subsets the paper contrasts. */
export type Subset = 'reasoning' | 'memorization';
export const SUBSETS: readonly Subset[] = ['reasoning', 'memorization'];

/** Text encodings a JSON/JSONL dataset may be read in (read.ts; UTF-8 is checked strictly). */
export const TEXT_ENCODINGS = ['utf-8', 'utf-16le', 'utf-16be', 'latin1'] as const;
export type TextEncoding = (typeof TEXT_ENCODINGS)[number];

/**
 * The built-in dataset schemas (see kinds.ts). `text` is plain prompts (a `{"text": …}` record,
 * or a line of a .txt file): no options, answer or label, for tracing and steering.
 */
export type DatasetKind = 'mmlu-pro' | 'reason-mem' | 'gsm8k' | 'popqa' | 'factual-recall' | 'text';
export const DATASET_KINDS: readonly DatasetKind[] = ['mmlu-pro', 'reason-mem', 'gsm8k', 'popqa', 'factual-recall', 'text'];

export interface QARecord {
  /** Stable id (question_id, _ukey, PopQA id, known_id, or the position): unique within the dataset. */
  id: string;
  /** Position in the source file (after choosing a split), 0-based. */
  index: number;
  question: string;
  /** Answer options in letter order; [] for open questions (GSM8K, PopQA, factual recall). */
  options: string[];
  /** Multiple choice: the letter 'A'..'J'. GSM8K: the final number as a plain string ("2125", not "2,125"). */
  answer?: string;
  /** Open questions (PopQA, factual recall): every acceptable answer. */
  aliases?: string[];
  /** MMLU-Pro category, MMLU Subject. */
  category?: string;
  /** MMLU-Pro cot_content: a worked answer used by the CoT few-shot prompt. */
  cot?: string;
  /** memory_reason_score in [0,1] when the source has one. */
  score?: number;
  /** Set by the dataset's label rule (labels.ts). */
  label?: Subset;
}

/**
 * How a record's subset is decided; recorded with the dataset so that caches and runs say which
 * rule produced their labels. Kept here (not in labels.ts) because Dataset refers to it.
 */
export type LabelRule =
  | { kind: 'score-threshold'; field: string; threshold: number; inclusive?: boolean }
  | { kind: 'field-map'; field: string; map: Record<string, Subset> }
  | { kind: 'constant'; label: Subset };

export interface Dataset {
  name: string;
  file: string;
  /** sha256 (hex) of the file's bytes: caches compare it to detect a changed dataset. */
  contentHash: string;
  kind: DatasetKind;
  /** The JSON split chosen (PopQA's dev/test), when the file had named splits. */
  split?: string;
  records: QARecord[];
  labelRule?: LabelRule;
  /**
   * Problems that do not stop the load but that a user should see, e.g. MMLU-Pro's one test row
   * whose `answer` letter disagrees with its `answer_index`.
   */
  warnings?: string[];
}

/** Option letters: MMLU-Pro has at most 10 options. */
export const LETTERS = 'ABCDEFGHIJ';

export function letterOf(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= LETTERS.length) {
    throw new RangeError(`option index ${index} is outside 0..${LETTERS.length - 1}`);
  }
  return LETTERS[index]!;
}

export function indexOfLetter(letter: string): number {
  const i = letter.length === 1 ? LETTERS.indexOf(letter) : -1;
  if (i < 0) throw new RangeError(`"${letter}" is not an option letter A..J`);
  return i;
}
