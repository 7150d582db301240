// Reading raw dataset files (JSON, JSONL, parquet) into an array of untyped rows, plus the error
// type every dataset module throws. Schemas and normalisation live in kinds.ts; this module only
// knows file formats, so that a new schema never needs a new reader and vice versa.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { DatasetError, parseJsonl, type DatasetErrorWhere } from './jsonl';

export { DatasetError, parseJsonl, type DatasetErrorWhere };

/** `text`: a .txt file, one record `{"text": line}` per non-empty line. */
export type FileFormat = 'json' | 'jsonl' | 'parquet' | 'text';

/** Text encodings a JSON or JSONL dataset may be read in. */
import { TEXT_ENCODINGS, type TextEncoding } from './records';

export { TEXT_ENCODINGS, type TextEncoding };

export interface ReadOptions {
  /** Which array to use when a JSON file is an object of named splits ({dev: [...], test: [...]}). */
  split?: string;
  /** Overrides detection from the extension and content. */
  format?: FileFormat;
  /**
   * The text encoding of a JSON/JSONL file. Default UTF-8, strictly: invalid bytes are an error
   * naming the record and byte offset, never replaced silently (a U+FFFD in a question changes
   * its tokens and its answer). A UTF-16 file is recognised and named rather than misread.
   */
  encoding?: TextEncoding;
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
  const text = decodeText(file, bytes, format, opts.encoding);
  if (format === 'text') {
    const { rows, lines } = textLines(text);
    return { file, format, contentHash, rows, lines };
  }
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
  if (ext === '.txt') return 'text';
  // Unknown extension: parquet files start with the magic "PAR1"; otherwise treat as JSON, which
  // falls back to JSONL when the text is one object per line.
  if (bytes.length >= 4 && String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!) === 'PAR1') return 'parquet';
  return 'json';
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

const ENCODING_HINT = (enc: string) =>
  `LayerLab reads datasets as UTF-8: convert the file (e.g. iconv -f ${enc} -t UTF-8 FILE > FILE.utf8), or name its encoding (--encoding ${enc.toLowerCase()}).`;

/** The text of a JSON/JSONL dataset (see ReadOptions.encoding). */
function decodeText(file: string, bytes: Buffer, format: FileFormat, encoding: TextEncoding | undefined): string {
  if (encoding === 'latin1') return bytes.toString('latin1');
  if (encoding === 'utf-16le' || encoding === 'utf-16be') {
    try {
      return stripBom(new TextDecoder(encoding, { fatal: true }).decode(bytes));
    } catch {
      throw new DatasetError({ file }, `is not valid ${encoding.toUpperCase()}`, 'Check the encoding you named.');
    }
  }
  const utf16 = utf16Kind(bytes);
  if (utf16) {
    throw new DatasetError({ file }, `is encoded as UTF-16 (${utf16})`, ENCODING_HINT(utf16.startsWith('little') ? 'UTF-16LE' : 'UTF-16BE'));
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    // Where the bad byte is: its line and column, and the record around it (decoded prefix).
    const prefix = stripBom(bytes.subarray(0, bad).toString('utf8'));
    const line = (prefix.match(/\n/g)?.length ?? 0) + 1;
    const column = prefix.length - (prefix.lastIndexOf('\n') + 1) + 1;
    const index = format === 'jsonl' || format === 'text' ? jsonlRecordAt(prefix) : jsonRecordAt(prefix);
    const shown = [...bytes.subarray(bad, bad + 4)].map((b) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`).join(' ');
    throw new DatasetError({ file, index, line, column },
      `is not valid UTF-8: byte offset ${bad} holds ${shown}${looksLatin1(bytes, bad) ? ' (the file looks like Latin-1 / Windows-1252 text)' : ''}`,
      ENCODING_HINT('latin1'));
  }
  return stripBom(bytes.toString('utf8'));
}

/** 'little-endian' / 'big-endian' (with or without a byte-order mark) when the bytes are UTF-16 text, else undefined. */
function utf16Kind(b: Uint8Array): string | undefined {
  if (b[0] === 0xff && b[1] === 0xfe) return 'little-endian, with a byte-order mark';
  if (b[0] === 0xfe && b[1] === 0xff) return 'big-endian, with a byte-order mark';
  // Without a mark: ASCII-range JSON in UTF-16 has a zero in every other byte.
  const n = Math.min(b.length, 4096) & ~1;
  if (n < 4) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < n; i += 2) {
    if (b[i] === 0) evenZeros++;
    if (b[i + 1] === 0) oddZeros++;
  }
  if (oddZeros > 0.4 * (n / 2) && evenZeros === 0) return 'little-endian, no byte-order mark';
  if (evenZeros > 0.4 * (n / 2) && oddZeros === 0) return 'big-endian, no byte-order mark';
  return undefined;
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629), or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // no overlong forms
      if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const x = b[i + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** A lone byte 0xA0–0xFF between ASCII bytes: what Latin-1 and Windows-1252 accents look like. */
function looksLatin1(b: Uint8Array, at: number): boolean {
  return b[at] >= 0xa0 && (b[at + 1] === undefined || b[at + 1] < 0x80);
}

/** The 0-based record a JSONL prefix ends in: the number of non-blank lines before its last line. */
function jsonlRecordAt(prefix: string): number {
  const lines = prefix.split('\n');
  return lines.slice(0, -1).filter((l) => l.trim() !== '').length;
}

/**
 * The 0-based record a JSON prefix ends in: the element of the records array (the top-level
 * array, or the array inside a top-level object) the prefix stops in; undefined outside one.
 */
function jsonRecordAt(prefix: string): number | undefined {
  const stack: { kind: string; commas: number }[] = [];
  let inString = false;
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') stack.push({ kind: ch, commas: 0 });
    else if (ch === ']' || ch === '}') stack.pop();
    else if (ch === ',' && stack.length) stack[stack.length - 1].commas++;
  }
  const records = stack[0]?.kind === '[' ? stack[0] : stack[0]?.kind === '{' && stack[1]?.kind === '[' ? stack[1] : undefined;
  return records?.commas;
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

/**
 * One prompt per line of a .txt file (a trailing \r of CRLF files dropped; blank lines are not
 * records). A prompt with a newline inside needs JSON or JSONL (`{"text": "…\n…"}`).
 */
function textLines(text: string): { rows: unknown[]; lines: number[] } {
  const rows: unknown[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    rows.push({ text: line });
    lines.push(i + 1);
  });
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
