// Reading raw dataset files (JSON, JSONL, parquet) into an array of untyped rows, plus the error
// type every dataset module throws. Schemas and normalisation live in kinds.ts; this module only
// knows file formats, so that a new schema never needs a new reader and vice versa.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parquetReadObjects } from 'hyparquet';

export type FileFormat = 'json' | 'jsonl' | 'parquet';

/** Where in a dataset file a problem is; every part is optional except the file. */
export interface DatasetErrorWhere {
  file: string;
  /** 0-based record index (position among the records of the chosen split). */
  index?: number;
  /** 1-based line (JSONL records, JSON syntax errors). */
  line?: number;
  column?: number;
  field?: string;
}

/**
 * A problem with a dataset file. The message always names the file and, where known, the record
 * index, line and field, then says what to do: users meet these errors on the command line and in
 * VS Code notifications, far from the code, so the message must stand on its own.
 */
export class DatasetError extends Error {
  readonly file: string;
  readonly index?: number;
  readonly line?: number;
  readonly field?: string;
  readonly problem: string;
  readonly hint: string;

  constructor(where: DatasetErrorWhere, problem: string, hint: string) {
    super(DatasetError.format(where, problem, hint));
    this.name = 'DatasetError';
    this.file = where.file;
    this.index = where.index;
    this.line = where.line;
    this.field = where.field;
    this.problem = problem;
    this.hint = hint;
  }

  static format(w: DatasetErrorWhere, problem: string, hint: string): string {
    const at: string[] = [];
    if (w.index !== undefined) at.push(`record ${w.index}`);
    if (w.line !== undefined) at.push(w.column !== undefined ? `line ${w.line}, column ${w.column}` : `line ${w.line}`);
    if (w.field !== undefined) at.push(`field "${w.field}"`);
    const where = at.length ? `${w.file} (${at.join(', ')})` : w.file;
    return `${where}: ${problem}. ${hint}`;
  }
}

export interface ReadOptions {
  /** Which array to use when a JSON file is an object of named splits ({dev: [...], test: [...]}). */
  split?: string;
  /** Overrides detection from the extension and content. */
  format?: FileFormat;
}

export interface RawTable {
  file: string;
  format: FileFormat;
  /** sha256 (hex) of the file bytes. */
  contentHash: string;
  rows: unknown[];
  /** JSONL only: lines[i] is the 1-based line of record i, so that later errors can name it. */
  lines?: number[];
  /** The JSON object key the rows came from, when the file was an object. */
  split?: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a dataset file into untyped rows. Async because the parquet reader is. */
export async function readTable(file: string, opts: ReadOptions = {}): Promise<RawTable> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatasetError({ file }, code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(e)})`,
      'Check the path (relative paths resolve from the current folder).');
  }
  const contentHash = sha256Hex(bytes);
  const format = opts.format ?? detectFormat(file, bytes);
  if (opts.split !== undefined && format !== 'json') {
    throw new DatasetError({ file }, `a split ("${opts.split}") was asked for, but a ${format} file has no named splits`,
      'Leave out the split option for this file.');
  }
  if (format === 'parquet') {
    return { file, format, contentHash, rows: await readParquetRows(file, bytes) };
  }
  const text = stripBom(bytes.toString('utf8'));
  if (format === 'jsonl') {
    const { rows, lines } = parseJsonl(file, text);
    return { file, format, contentHash, rows, lines };
  }
  const json = parseJsonText(file, text);
  if (json.jsonl) return { file, format: 'jsonl', contentHash, rows: json.jsonl.rows, lines: json.jsonl.lines };
  const { rows, split } = pickRows(file, json.value, opts.split);
  return { file, format, contentHash, rows, split };
}

function detectFormat(file: string, bytes: Uint8Array): FileFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return 'json';
  // Unknown extension: parquet files start with the magic "PAR1"; otherwise treat as JSON, which
  // falls back to JSONL when the text is one object per line.
  if (bytes.length >= 4 && String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!) === 'PAR1') return 'parquet';
  return 'json';
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

/** 1-based line and column of a 0-based character offset. */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

function parseJsonText(file: string, text: string): { value: unknown; jsonl?: undefined } | { value?: undefined; jsonl: { rows: unknown[]; lines: number[] } } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    // Many ".json" files on the Hub are really JSON Lines. When the first line alone is a complete
    // object, read the file as JSONL rather than fail; a broken JSON array never passes this test
    // because its first line is "[" or an unterminated array.
    const firstLine = text.split('\n', 1)[0]!.trim();
    if (firstLine.startsWith('{') && text.trim().includes('\n')) {
      try {
        JSON.parse(firstLine);
        return { jsonl: parseJsonl(file, text) };
      } catch {
        /* not JSONL either: report the JSON error below */
      }
    }
    const msg = (e as Error).message;
    const m = /at position (\d+)/.exec(msg);
    const where = m ? { file, ...lineColumn(text, Number(m[1])) } : { file };
    throw new DatasetError(where, `is not valid JSON (${msg})`,
      'Fix the syntax at that point, or, if the file has one JSON object per line, rename it to .jsonl.');
  }
}

function parseJsonl(file: string, text: string): { rows: unknown[]; lines: number[] } {
  const rows: unknown[] = [];
  const lines: number[] = [];
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const s = all[i]!.trim(); // also drops the \r of CRLF files
    if (s === '') continue; // blank lines (and the trailing newline) are not records
    try {
      rows.push(JSON.parse(s));
    } catch (e) {
      throw new DatasetError({ file, index: rows.length, line: i + 1 }, `is not valid JSON (${(e as Error).message})`,
        'Each line of a JSONL file must be one complete JSON value; fix or delete that line.');
    }
    lines.push(i + 1);
  }
  return { rows, lines };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  // Prototype check, not just typeof: parquet timestamps arrive as Date objects and must stay so.
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * The records of a parsed JSON document: the array itself, the one array-valued field of an
 * object ({"data": [...]}), or the named split of an object with several ({dev: [...], test: [...]}).
 * Non-array fields (PopQA's "name", "task_type") are metadata and ignored.
 */
function pickRows(file: string, value: unknown, split: string | undefined): { rows: unknown[]; split?: string } {
  if (Array.isArray(value)) {
    if (split !== undefined) {
      throw new DatasetError({ file }, `a split ("${split}") was asked for, but the file is a plain array with no named splits`,
        'Leave out the split option for this file.');
    }
    return { rows: value };
  }
  if (!isPlainObject(value)) {
    throw new DatasetError({ file }, `the top-level JSON value is ${value === null ? 'null' : typeof value}, not an array of records`,
      'A dataset file must be a JSON array of records, or an object whose fields are arrays of records.');
  }
  const arrayKeys = Object.keys(value).filter((k) => Array.isArray(value[k]));
  const listed = arrayKeys.map((k) => `"${k}" (${(value[k] as unknown[]).length})`).join(', ');
  if (split !== undefined) {
    if (!arrayKeys.includes(split)) {
      throw new DatasetError({ file }, `has no split "${split}"`,
        arrayKeys.length ? `Available splits: ${listed}.` : 'The file has no array-valued fields at all.');
    }
    return { rows: value[split] as unknown[], split };
  }
  if (arrayKeys.length === 1) return { rows: value[arrayKeys[0]!] as unknown[], split: arrayKeys[0] };
  if (arrayKeys.length === 0) {
    throw new DatasetError({ file }, 'is a JSON object with no array of records',
      `Its fields are ${Object.keys(value).map((k) => `"${k}"`).join(', ') || '(none)'}; a dataset needs an array of records.`);
  }
  throw new DatasetError({ file }, `has several splits: ${listed}`, 'Choose one with the split option (--split NAME).');
}

async function readParquetRows(file: string, bytes: Buffer): Promise<unknown[]> {
  // hyparquet reads from an ArrayBuffer; copy out exactly this file's bytes (a Buffer may be a
  // view into a larger shared pool).
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: ab });
  } catch (e) {
    throw new DatasetError({ file }, `cannot be read as parquet (${(e as Error).message})`,
      'Check that it is a parquet file; files compressed with codecs other than snappy may need converting to JSONL.');
  }
  return rows.map((r) => fromParquetValue(r));
}

/**
 * Parquet INT64 columns (MMLU-Pro's question_id, answer_index) arrive as BigInt, which neither
 * JSON nor zod's number schemas accept. Safe integers become numbers; larger ones become decimal
 * strings so that ids stay exact.
 */
function fromParquetValue(v: unknown): any {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (Array.isArray(v)) return v.map(fromParquetValue);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromParquetValue(x);
    return out;
  }
  return v;
}
