/**
 * CSV for the data exports (RFC 4180: comma-separated, CRLF line ends, fields quoted when they
 * hold a comma, quote or line break). Numbers are written in full precision (String(x)), so a
 * CSV read back gives exactly the run file's numbers, not the rounded ones a table shows.
 */
import type { Cell, TableData } from './run';

function field(v: Cell): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  // A leading =, +, - or @ makes spreadsheet programs evaluate the field as a formula; generated
  // text is model output, so it is neutralised with a quote prefix (OWASP "CSV injection").
  const safe = typeof v === 'string' && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(t: TableData): string {
  return [t.columns, ...t.rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}
