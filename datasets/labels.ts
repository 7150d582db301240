// Label rules: how a record becomes "reasoning" or "memorization". The rule is data, recorded with
// every dataset, cache and run, because the same questions split differently under a different
// threshold and results are only comparable when the rule is known.

import { DatasetError } from './read';
import type { RawRow } from './kinds';
import { SUBSETS, type DatasetKind, type LabelRule, type QARecord, type Subset } from './records';

export type { LabelRule } from './records';

/** The paper's rule: memory_reason_score > 0.5 is reasoning, ≤ 0.5 memorization. */
export const SCORE_RULE: Extract<LabelRule, { kind: 'score-threshold' }> = { kind: 'score-threshold', field: 'memory_reason_score', threshold: 0.5 };

/** The reason-mem file's explicit labels. */
export const FIELD_MAP_RULE: Extract<LabelRule, { kind: 'field-map' }> = {
  kind: 'field-map', field: 'label', map: { Reasoning: 'reasoning', Memorization: 'memorization' },
};

/**
 * The rule used when the user gives none. GSM8K counts as reasoning and PopQA / factual recall
 * as memorization, as in the paper's out-of-domain evaluation; MMLU-Pro only has labels when its
 * rows carry memory_reason_score (the paper's 3000-sample file does, the plain test split does not).
 */
export function defaultLabelRule(kind: DatasetKind, firstRow?: RawRow): LabelRule | undefined {
  switch (kind) {
    case 'mmlu-pro':
      return firstRow && firstRow.memory_reason_score != null ? { ...SCORE_RULE } : undefined;
    case 'reason-mem':
      return { ...FIELD_MAP_RULE, map: { ...FIELD_MAP_RULE.map } };
    case 'gsm8k':
      return { kind: 'constant', label: 'reasoning' };
    case 'popqa':
    case 'factual-recall':
      return { kind: 'constant', label: 'memorization' };
    case 'text':
      return undefined;
  }
}

export class LabelRuleError extends Error {
  constructor(spec: string, problem: string) {
    super(`invalid label rule "${spec}": ${problem}. Examples: "score>0.5" (memory_reason_score above 0.5 is reasoning), ` +
      '"label:Reasoning=reasoning,Memorization=memorization" (map a field\'s values), "reasoning" (every record), "none" (no labels).');
    this.name = 'LabelRuleError';
  }
}

const FIELD = '[A-Za-z_][A-Za-z0-9_]*';

function parseSubset(spec: string, s: string): Subset {
  const t = s.trim().toLowerCase();
  if ((SUBSETS as readonly string[]).includes(t)) return t as Subset;
  throw new LabelRuleError(spec, `"${s.trim()}" is not a subset (use "reasoning" or "memorization")`);
}

/**
 * Parses a user's rule (a CLI flag or setting). Returns null for "none" (load without labels).
 *   score>0.5 | memory_reason_score>=0.6 | FIELD>T      score-threshold ("score" means memory_reason_score)
 *   label:Reasoning=reasoning,Memorization=memorization field-map
 *   reasoning | memorization | all=reasoning            constant
 */
export function parseLabelRule(spec: string): LabelRule | null {
  const s = spec.trim();
  if (s === '') throw new LabelRuleError(spec, 'it is empty');
  if (s.toLowerCase() === 'none') return null;
  const constant = /^(?:(?:all|const|constant)\s*[=:]\s*)?(\w+)$/i.exec(s);
  if (constant && !/^\d/.test(constant[1]!)) {
    return { kind: 'constant', label: parseSubset(spec, constant[1]!) };
  }
  const thr = new RegExp(`^(${FIELD})\\s*(>=|>)\\s*([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?)$`).exec(s);
  if (thr) {
    const field = thr[1] === 'score' ? 'memory_reason_score' : thr[1]!;
    const rule: LabelRule = { kind: 'score-threshold', field, threshold: Number(thr[3]) };
    if (thr[2] === '>=') rule.inclusive = true;
    return rule;
  }
  if (/[<]/.test(s)) throw new LabelRuleError(spec, 'thresholds are written FIELD>T (above T is reasoning)');
  const fm = new RegExp(`^(${FIELD})\\s*:(.*)$`).exec(s);
  if (fm) {
    const map: Record<string, Subset> = {};
    const entries = fm[2]!.split(',').map((e) => e.trim()).filter((e) => e !== '');
    if (entries.length === 0) throw new LabelRuleError(spec, `no VALUE=subset pairs after "${fm[1]}:"`);
    for (const e of entries) {
      const eq = e.lastIndexOf('=');
      if (eq <= 0) throw new LabelRuleError(spec, `"${e}" is not VALUE=subset`);
      const key = e.slice(0, eq).trim();
      if (key in map) throw new LabelRuleError(spec, `value "${key}" is mapped twice`);
      map[key] = parseSubset(spec, e.slice(eq + 1));
    }
    return { kind: 'field-map', field: fm[1]!, map };
  }
  throw new LabelRuleError(spec, 'it matches none of the rule forms');
}

/** The rule in the syntax parseLabelRule reads (for display and CLI round trips). */
export function formatLabelRule(rule: LabelRule | null | undefined): string {
  if (!rule) return 'none';
  switch (rule.kind) {
    case 'score-threshold':
      return `${rule.field}${rule.inclusive ? '>=' : '>'}${rule.threshold}`;
    case 'field-map':
      return `${rule.field}:${Object.entries(rule.map).map(([k, v]) => `${k}=${v}`).join(',')}`;
    case 'constant':
      return rule.label;
  }
}

export interface LabelWhere {
  file: string;
  index: number;
  line?: number;
}

/** The subset of one source row under a rule; errors name the file, record and field. */
export function labelFor(rule: LabelRule, row: RawRow, where: LabelWhere): Subset {
  switch (rule.kind) {
    case 'constant':
      return rule.label;
    case 'score-threshold': {
      const v = row[rule.field];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new DatasetError({ ...where, field: rule.field },
          v === undefined || v === null ? 'is missing, but the label rule thresholds it' : `is ${JSON.stringify(v)}, not a number, but the label rule thresholds it`,
          `Give every record a numeric ${rule.field}, or choose another rule with --label-rule (e.g. "label:Reasoning=reasoning,Memorization=memorization" or "none").`);
      }
      return (rule.inclusive ? v >= rule.threshold : v > rule.threshold) ? 'reasoning' : 'memorization';
    }
    case 'field-map': {
      const v = row[rule.field];
      const key = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
      const known = Object.keys(rule.map);
      if (key === undefined) {
        throw new DatasetError({ ...where, field: rule.field }, v === undefined || v === null ? 'is missing, but the label rule maps it' : `is ${JSON.stringify(v)}, which the label rule cannot map`,
          `Give every record a ${rule.field} (one of ${known.map((k) => `"${k}"`).join(', ')}), or choose another rule with --label-rule.`);
      }
      const label = Object.prototype.hasOwnProperty.call(rule.map, key) ? rule.map[key] : undefined;
      if (!label) {
        throw new DatasetError({ ...where, field: rule.field }, `has the value "${key}", which the label rule does not map (it maps ${known.map((k) => `"${k}"`).join(', ')})`,
          `Add it to the rule, e.g. --label-rule "${formatLabelRule({ ...rule, map: { ...rule.map, [key]: 'reasoning' } })}", or fix the record.`);
      }
      return label;
    }
  }
}

/**
 * Labels records from their source rows (parallel arrays, as kinds.normaliseRows returns them).
 * Returns new records; the inputs are not changed.
 */
export function applyLabelRule(rule: LabelRule, records: QARecord[], rows: RawRow[], file: string, lines?: number[]): QARecord[] {
  if (records.length !== rows.length) throw new Error(`applyLabelRule: ${records.length} records but ${rows.length} rows`);
  return records.map((r, i) => ({ ...r, label: labelFor(rule, rows[i]!, { file, index: r.index, line: lines?.[r.index] }) }));
}

export interface LabelCounts {
  reasoning: number;
  memorization: number;
  unlabeled: number;
  total: number;
}

export function countLabels(records: readonly QARecord[]): LabelCounts {
  const c: LabelCounts = { reasoning: 0, memorization: 0, unlabeled: 0, total: records.length };
  for (const r of records) {
    if (r.label === 'reasoning') c.reasoning++;
    else if (r.label === 'memorization') c.memorization++;
    else c.unlabeled++;
  }
  return c;
}
