/**
 * The dataset error every reader throws (file, record, line, field, then what to do) and the
 * JSONL line parser, with no Node imports: the protocol module that the extension and webviews
 * bundle (runtime/protocol/thinking.ts) reads LayerLab's JSONL files with the same two, so a bad
 * line reads the same in a terminal and in the editor.
 */

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

/** One JSON value per non-blank line; `lines[i]` is the 1-based line of row i. */
export function parseJsonl(file: string, text: string): { rows: unknown[]; lines: number[] } {
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

