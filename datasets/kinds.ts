// Built-in dataset schemas: validation (zod) of the raw rows that read.ts returns, and their
// conversion to QARecord. A kind is detected from the first record's field names, or chosen
// explicitly (--kind) when detection would guess wrong.

import { z } from 'zod';
import { DatasetError, type RawTable } from './read';
import { DATASET_KINDS, LETTERS, letterOf, type DatasetKind, type QARecord } from './records';

/** A validated source row; label rules read their field from it (labels.ts). */
export type RawRow = Record<string, unknown>;

export interface NormalisedRows {
  records: QARecord[];
  /** The validated source rows, parallel to records. */
  rows: RawRow[];
  warnings: string[];
}

interface RowContext {
  file: string;
  index: number;
  line?: number;
  warn(message: string): void;
  fail(field: string, problem: string, hint?: string): never;
}

interface KindSpec {
  /** The field names users should see in "expected fields" help. */
  fields: string;
  /** The source field the record id comes from (named in duplicate-id errors). */
  idField: string;
  schema: z.ZodType<RawRow>;
  toRecord(row: any, ctx: RowContext): Omit<QARecord, 'index'>;
}

const letter = z.string().regex(/^[A-J]$/, 'expected an option letter A..J');
const id = z.union([z.number().int(), z.string().min(1)]);
const optionList = z.array(z.string()).min(1, 'expected at least one option').max(LETTERS.length, `expected at most ${LETTERS.length} options`);

/** The answer letter must name one of the options. */
function checkLetter(answer: string, options: string[], ctx: RowContext): void {
  if (LETTERS.indexOf(answer) >= options.length) {
    ctx.fail('answer', `is "${answer}" but the record has only ${options.length} options (A..${LETTERS[options.length - 1]})`);
  }
}

const SPECS: Record<DatasetKind, KindSpec> = {
  'mmlu-pro': {
    fields: 'question_id, question, options[], answer (letter), answer_index, cot_content, category [, memory_reason_score]',
    idField: 'question_id',
    schema: z.object({
      question_id: id,
      question: z.string().min(1, 'is empty'),
      options: optionList,
      answer: letter,
      answer_index: z.number().int().min(0).max(LETTERS.length - 1).optional(),
      cot_content: z.string().nullish(),
      category: z.string().min(1, 'is empty'),
      src: z.string().nullish(),
      memory_reason_score: z.number().min(0, 'must be in [0,1]').max(1, 'must be in [0,1]').nullish(),
    }).passthrough(),
    toRecord(row, ctx) {
      checkLetter(row.answer, row.options, ctx);
      // `answer` is authoritative: the seed scores against it. MMLU-Pro's own test split has a row
      // (question_id 3983) whose answer_index disagrees, so a mismatch warns instead of failing.
      if (row.answer_index != null && LETTERS[row.answer_index] !== row.answer) {
        ctx.warn(`record ${ctx.index} (question_id ${row.question_id}): answer "${row.answer}" disagrees with answer_index ${row.answer_index} ("${LETTERS[row.answer_index]}"); using answer`);
      }
      const r: Omit<QARecord, 'index'> = {
        id: String(row.question_id), question: row.question, options: row.options, answer: row.answer, category: row.category,
      };
      if (row.cot_content) r.cot = row.cot_content;
      if (row.memory_reason_score != null) r.score = row.memory_reason_score;
      return r;
    },
  },

  'reason-mem': {
    fields: '_ukey, question, options[], answer (letter or index), label, Subject',
    idField: '_ukey',
    schema: z.object({
      // _ukey ("test:5"), not question_id: question_id repeats across MMLU's dev/validation/test
      // splits inside this file (1,586 rows, 1,564 distinct question_ids).
      _ukey: z.string().min(1, 'is empty'),
      question: z.string().min(1, 'is empty'),
      options: optionList,
      answer: z.union([letter, z.number().int().min(0).max(LETTERS.length - 1)]),
      answer_index: z.number().int().min(0).max(LETTERS.length - 1).optional(),
      label: z.string(),
      Subject: z.string().optional(),
    }).passthrough(),
    toRecord(row, ctx) {
      // The shared file stores `answer` as a letter; accept a bare index too, as MMLU exports vary.
      const answer: string = typeof row.answer === 'number' ? letterOf(row.answer) : row.answer;
      checkLetter(answer, row.options, ctx);
      if (row.answer_index != null && LETTERS[row.answer_index] !== answer) {
        ctx.warn(`record ${ctx.index} (_ukey ${row._ukey}): answer "${answer}" disagrees with answer_index ${row.answer_index}; using answer`);
      }
      const r: Omit<QARecord, 'index'> = { id: row._ukey, question: row.question, options: row.options, answer };
      if (row.Subject) r.category = row.Subject;
      return r;
    },
  },

  gsm8k: {
    fields: "question, answer (worked solution ending in '#### N')",
    idField: 'index',
    schema: z.object({ question: z.string().min(1, 'is empty'), answer: z.string() }).passthrough(),
    toRecord(row, ctx) {
      const m = /####\s*(.+?)\s*$/.exec(row.answer);
      if (!m) return ctx.fail('answer', "has no final '#### N' line", "GSM8K solutions end with '#### <number>'; fix the record or choose another --kind");
      const n = normaliseNumber(m[1]!);
      if (n === null) return ctx.fail('answer', `ends with '#### ${m[1]}', which is not a number`);
      // The worked solution (without the '#### N' line) is kept as the record's chain of thought:
      // fewshot.ts turns the first records of a GSM8K file into 8-shot examples.
      const r: Omit<QARecord, 'index'> = { id: String(ctx.index), question: row.question, options: [], answer: n };
      const cot = row.answer.slice(0, m.index).trim();
      if (cot) r.cot = cot;
      return r;
    },
  },

  popqa: {
    fields: 'question or input, possible_answers or output (a JSON-encoded list of strings), id',
    idField: 'id',
    // Two layouts exist: the original PopQA (question, possible_answers, prop, ...) and the
    // moco/model_collaboration subset in ../shared/data (input, output, id, s_pop, o_pop).
    // Both store the answers as a JSON *string* holding a list, not as a list.
    schema: z.object({
      id: id.optional(),
      question: z.string().optional(),
      input: z.string().optional(),
      possible_answers: z.union([z.string(), z.array(z.string())]).optional(),
      output: z.union([z.string(), z.array(z.string())]).optional(),
      prop: z.string().optional(),
    }).passthrough(),
    toRecord(row, ctx) {
      // Name the original layout's field in errors unless the record uses the other layout.
      const qField = row.question === undefined && row.input !== undefined ? 'input' : 'question';
      const question = row[qField];
      if (typeof question !== 'string' || question === '') return ctx.fail(qField, question === undefined ? 'is missing (a PopQA record needs "question" or "input")' : 'is empty');
      const aField = row.possible_answers === undefined && row.output !== undefined ? 'output' : 'possible_answers';
      const aliases = parseAliases(row[aField], aField, ctx);
      const r: Omit<QARecord, 'index'> = { id: row.id !== undefined ? String(row.id) : String(ctx.index), question, options: [], aliases };
      if (row.prop) r.category = row.prop;
      return r;
    },
  },

  'factual-recall': {
    fields: 'prompt, attribute, subject [, known_id, relation_id]',
    idField: 'known_id',
    schema: z.object({
      known_id: id.optional(),
      prompt: z.string().min(1, 'is empty'),
      attribute: z.string().min(1, 'is empty'),
      subject: z.string(),
      relation_id: z.string().optional(),
    }).passthrough(),
    toRecord(row, ctx) {
      // ROME's "known facts": the prompt is a sentence prefix ("Vinson Massif is located in the
      // continent of"); the attribute is the completion to find.
      const r: Omit<QARecord, 'index'> = {
        id: row.known_id !== undefined ? String(row.known_id) : String(ctx.index), question: row.prompt, options: [], aliases: [row.attribute],
      };
      if (row.relation_id) r.category = row.relation_id;
      return r;
    },
  },

  text: {
    fields: 'text [, id]  (or a .txt file, one prompt per line)',
    idField: 'id',
    schema: z.object({ id: id.optional(), text: z.string().min(1, 'is empty') }).passthrough(),
    toRecord(row, ctx) {
      // The text is the whole prompt: the `{question}` template (the default for this kind)
      // passes it on unchanged.
      return { id: row.id !== undefined ? String(row.id) : String(ctx.index), question: row.text, options: [] };
    },
  },
};

/** "2,125" → "2125", "$18.00" → "18", "-3" → "-3"; null when not a number. */
export function normaliseNumber(s: string): string | null {
  const t = s.replace(/[,$\s]/g, '').replace(/\.$/, '');
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? String(v) : null;
}

function parseAliases(v: unknown, field: string, ctx: RowContext): string[] {
  if (v === undefined) ctx.fail(field, 'is missing (a PopQA record needs "possible_answers" or "output")');
  let list: unknown = v;
  if (typeof v === 'string') {
    try {
      list = JSON.parse(v);
    } catch {
      ctx.fail(field, 'is a string but not a JSON-encoded list', 'PopQA stores answers as a JSON string such as "[\\"Paris\\"]"');
    }
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string')) {
    ctx.fail(field, 'must be a non-empty list of strings');
  }
  return list as string[];
}

export function isDatasetKind(s: string): s is DatasetKind {
  return (DATASET_KINDS as readonly string[]).includes(s);
}

/** The expected fields of every kind, for help and error messages. */
export function describeKinds(): string {
  return DATASET_KINDS.map((k) => `${k}: ${SPECS[k].fields}`).join('; ');
}

/**
 * Guesses the kind from the first record's field names. Order matters: reason-mem files also
 * carry question_id and options, so they are recognised (by _ukey / label+Subject) first.
 */
export function detectKind(first: unknown, file: string): DatasetKind {
  if (typeof first !== 'object' || first === null || Array.isArray(first)) {
    throw new DatasetError({ file, index: 0 }, `is ${Array.isArray(first) ? 'an array' : first === null ? 'null' : typeof first}, not an object`,
      'Each record must be a JSON object.');
  }
  const f = first as RawRow;
  const has = (k: string) => k in f;
  if (has('_ukey') || (has('label') && has('Subject'))) return 'reason-mem';
  if (has('question_id') && has('options')) return 'mmlu-pro';
  if (has('prompt') && has('attribute')) return 'factual-recall';
  if (has('possible_answers') || (has('input') && has('output'))) return 'popqa';
  if (has('question') && typeof f.answer === 'string' && f.answer.includes('####')) return 'gsm8k';
  if (has('text') && typeof f.text === 'string') return 'text';
  const seen = Object.keys(f).slice(0, 20).join(', ') || '(no fields)';
  throw new DatasetError({ file, index: 0 }, `cannot tell the dataset kind from the fields (${seen})`,
    `Pass --kind with one of: ${describeKinds()}.`);
}

function zodProblem(issue: z.ZodIssue): string {
  if (issue.code === 'invalid_type') {
    return issue.received === 'undefined' ? 'is missing' : `has the wrong type: expected ${issue.expected}, got ${issue.received}`;
  }
  if (issue.code === 'invalid_union') {
    // Report the closest branch rather than zod's generic "Invalid input".
    const inner = issue.unionErrors.flatMap((e) => e.issues);
    const typed = inner.filter((i) => i.code === 'invalid_type');
    if (typed.length === inner.length && typed.length > 0) {
      const got = (typed[0] as z.ZodInvalidTypeIssue).received;
      if (got === 'undefined') return 'is missing';
      return `has the wrong type: expected ${typed.map((i) => (i as z.ZodInvalidTypeIssue).expected).join(' or ')}, got ${got}`;
    }
    return inner[inner.length - 1]?.message ?? issue.message;
  }
  return issue.message;
}

function fieldPath(p: (string | number)[]): string {
  return p.map((x, i) => (typeof x === 'number' ? `[${x}]` : i === 0 ? x : `.${x}`)).join('');
}

/** Validates every row against the kind's schema and converts it; checks ids are unique. */
export function normaliseRows(table: RawTable, kind: DatasetKind): NormalisedRows {
  const spec = SPECS[kind];
  const { file, lines } = table;
  const records: QARecord[] = [];
  const rows: RawRow[] = [];
  const warnings: string[] = [];
  const seenIds = new Map<string, number>();
  const hint = `Fix the record, or choose another schema with --kind (this file is read as "${kind}", which expects ${spec.fields}).`;
  for (let index = 0; index < table.rows.length; index++) {
    const line = lines?.[index];
    const raw = table.rows[index];
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new DatasetError({ file, index, line }, `is ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}, not an object`, 'Each record must be a JSON object.');
    }
    const parsed = spec.schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new DatasetError({ file, index, line, field: fieldPath(issue.path) || undefined }, zodProblem(issue), hint);
    }
    const ctx: RowContext = {
      file, index, line,
      warn: (m) => warnings.push(m),
      fail: (field, problem, h) => { throw new DatasetError({ file, index, line, field }, problem, h ?? hint); },
    };
    const { id: recId, ...rest } = spec.toRecord(parsed.data, ctx);
    const rec: QARecord = { id: recId, index, ...rest };
    const prev = seenIds.get(rec.id);
    if (prev !== undefined) {
      throw new DatasetError({ file, index, line, field: spec.idField }, `duplicate id "${rec.id}" (already used by record ${prev})`,
        'Record ids must be unique within a dataset so that caches and runs can refer to records; fix the file or de-duplicate it.');
    }
    seenIds.set(rec.id, index);
    records.push(rec);
    rows.push(parsed.data);
  }
  return { records, rows, warnings };
}
