// Loading a dataset: read the file (read.ts), validate and normalise its rows (kinds.ts), apply
// the label rule (labels.ts). Kept apart from index.ts so that demo.ts can build its in-memory
// dataset through exactly the same path without importing the package index (no cycle).

import * as path from 'node:path';
import { DatasetError, readTable, type FileFormat, type RawTable, type TextEncoding } from './read';
import { detectKind, isDatasetKind, normaliseRows, describeKinds } from './kinds';
import { applyLabelRule, defaultLabelRule, parseLabelRule } from './labels';
import { DATASET_KINDS, type Dataset, type DatasetKind, type LabelRule } from './records';

export interface LoadOptions {
  /** Overrides detection from the first record's fields. */
  kind?: DatasetKind | string;
  /** Display name; default: the file name without extension (plus ":split"). */
  name?: string;
  /** The named split of a JSON object file (PopQA: "dev" or "test"). */
  split?: string;
  /** A rule, its string form ("score>0.5", "label:Reasoning=reasoning,..."), or null for no labels. Default per kind. */
  labelRule?: LabelRule | string | null;
  format?: FileFormat;
  /** Text encoding of a JSON/JSONL file (default: UTF-8, strictly checked). */
  encoding?: TextEncoding;
}

export async function loadDataset(file: string, opts: LoadOptions = {}): Promise<Dataset> {
  const table = await readTable(file, { split: opts.split, format: opts.format, encoding: opts.encoding });
  return buildDataset(table, opts);
}

/** The part of loadDataset after reading: shared with the built-in demo dataset. */
export function buildDataset(table: RawTable, opts: Omit<LoadOptions, 'split' | 'format' | 'encoding'> = {}): Dataset {
  const { file } = table;
  if (table.rows.length === 0) {
    throw new DatasetError({ file }, `has no records${table.split ? ` in split "${table.split}"` : ''}`, 'Check that this is the file (and split) you meant.');
  }
  let kind: DatasetKind;
  if (opts.kind !== undefined) {
    if (!isDatasetKind(opts.kind)) {
      throw new DatasetError({ file }, `unknown dataset kind "${opts.kind}"`, `Use one of: ${DATASET_KINDS.join(', ')} (${describeKinds()}).`);
    }
    kind = opts.kind;
  } else {
    kind = detectKind(table.rows[0], file);
  }
  const { records, rows, warnings } = normaliseRows(table, kind);
  const rule = opts.labelRule === undefined
    ? defaultLabelRule(kind, rows[0])
    : typeof opts.labelRule === 'string' ? parseLabelRule(opts.labelRule) ?? undefined : opts.labelRule ?? undefined;
  const base = path.basename(file).replace(/\.(jsonl|ndjson|json|parquet|txt)$/i, '');
  const ds: Dataset = {
    name: opts.name ?? (table.split ? `${base}:${table.split}` : base),
    file,
    contentHash: table.contentHash,
    kind,
    records: rule ? applyLabelRule(rule, records, rows, file, table.lines) : records,
  };
  if (table.split !== undefined) ds.split = table.split;
  if (rule) ds.labelRule = rule;
  if (warnings.length) ds.warnings = warnings;
  return ds;
}
