/**
 * The run file (DESIGN.md "Runs", runtime/protocol/results.ts): summaries with Wilson intervals,
 * the seed's stdout lines, where the file goes, and writing it atomically so that a reader (the
 * extension's chart, a crash, a cancel) never sees half a file.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../../models/common/files';
import { wilson } from '../../datasets';
import { SUBSETS, type Accuracy, type InterventionResult, type InterventionSpec, type RunFile, type RunItem, type Subset } from '../protocol/results';
import { hashText } from './prompts';

export function accuracyOf(items: readonly RunItem[]): Accuracy {
  const total = items.length;
  const correct = items.filter((i) => i.correct).length;
  const unparsed = items.filter((i) => i.unparsed === true).length;
  const w = wilson(correct, total);
  // The interval's ends are exactly 0 and 1 at c = 0 and c = n (the formula leaves ~1e-17 there).
  const lo = correct === 0 ? 0 : w.lo;
  const hi = correct === total ? 1 : w.hi;
  // An empty subset has no accuracy; 0 with the interval [0, 1] keeps the JSON numeric and says "unknown".
  return { correct, total, unparsed, accuracy: total ? correct / total : 0, ci95: [lo, hi] };
}

export function summarise(items: readonly RunItem[]): Record<Subset, Accuracy> {
  return Object.fromEntries(SUBSETS.map((s) => [s, accuracyOf(items.filter((i) => i.subset === s))])) as Record<Subset, Accuracy>;
}

/**
 * The seed's lines: `Layer [66] - Reasoning Subset Accuracy: 0.5000 (12/24)` and the same with
 * `Memorizing Subset` (the seed's own word; LayerLab's data calls the subset "memorization").
 * The seed printed Python's repr of --layer_indices, so a run without intervention prints
 * `Layer None`, as the seed did; a subset with no records prints nothing, as in the seed. Runs
 * other than a plain direction intervention (random controls, sweeps with several scales) carry
 * their id in parentheses so every line says which run it is.
 */
export function seedLines(r: Pick<InterventionResult, 'intervention' | 'summary'>, opts: { qualify: boolean }): string[] {
  const s = r.intervention;
  const layers = s.kind === 'none' ? 'None' : `[${s.layers.join(', ')}]`;
  const qualifier = opts.qualify && s.kind !== 'none' ? ` (${s.id})` : '';
  const out: string[] = [];
  for (const [subset, word] of [['reasoning', 'Reasoning'], ['memorization', 'Memorizing']] as const) {
    const a = r.summary[subset];
    if (a.total === 0) continue;
    out.push(`Layer ${layers}${qualifier} - ${word} Subset Accuracy: ${a.accuracy.toFixed(4)} (${a.correct}/${a.total})`);
  }
  return out;
}

/**
 * Every seed line of a complete run file, in order, as the run printed them: with intervention
 * ids in a sweep and in any run with more than one edit (executeRun decides the same way).
 */
export function runLines(run: Pick<RunFile, 'spec' | 'results'>): string[] {
  const qualify = run.spec.command === 'sweep' || run.results.filter((r) => r.intervention.kind !== 'none').length > 1;
  return run.results.flatMap((r) => seedLines(r, { qualify }));
}

/**
 * `--out FILE`, else `<output_path>/<model_name>/<data_name>.<command>.<hash>.json` with the
 * hash of everything that defines the run, so the same experiment lands on the same file (and a
 * rerun replaces it) while a different one never overwrites it. `--output_path` defaults to the
 * workspace's runs folder (the job's schema says so), where the extension looks.
 */
export function runFilePath(o: { out?: string; outputPath: string }, parts: { modelName: string; dataName: string; command: string; identity: unknown }): string {
  if (o.out) return path.resolve(o.out);
  const root = o.outputPath;
  const safe = (s: string) => s.replace(/[^\w.@+-]+/g, '_');
  return path.resolve(root, safe(parts.modelName), `${safe(parts.dataName)}.${parts.command}.${hashText(JSON.stringify(parts.identity)).slice(0, 10)}.json`);
}

/** Replaces the run file atomically (models/common/files.ts): readers see the old file or the new one, never half. */
export function writeRunFileAtomic(file: string, run: RunFile): void {
  writeFileAtomic(file, JSON.stringify(run, null, 1) + '\n', { operation: 'write the run file', hint: 'choose a writable --out or --output_path' });
}

/** The fields of a run file that change from one identical run to the next. */
export const TIMING_FIELDS = ['createdAt', 'timing', 'results[].seconds'] as const;

/** A run file without its timing fields: two runs of the same spec must be equal under this. */
export function withoutTiming(run: RunFile): unknown {
  const { createdAt: _c, timing: _t, ...rest } = run;
  return { ...rest, results: run.results.map(({ seconds: _s, ...r }) => r) };
}

export function describeIntervention(s: InterventionSpec): string {
  return s.kind === 'none' ? 'no intervention' : s.id;
}
