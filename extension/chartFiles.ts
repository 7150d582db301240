/**
 * Reading the files chart pages draw: run files (evaluate, sweep) and direction statistics
 * (compute-directions). A page trusts what the host posts, so the host checks here that a file
 * is what it claims, with the fields the charts read, and says which file and field is wrong
 * otherwise. Plain Node (no `vscode`), so it is unit-tested directly.
 */
import * as path from 'node:path';
import { z } from 'zod';
import type { DirectionStatsFile, RunFile } from '../runtime/protocol/results';
import type { ChartPageKind, LoadedDirections, LoadedRun } from '../runtime/protocol/webview';

export class ChartFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'ChartFileError';
  }
}

const accuracy = z.object({
  correct: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  unparsed: z.number().int().nonnegative(),
  accuracy: z.number(),
  ci95: z.tuple([z.number(), z.number()]),
});

const item = z
  .object({
    id: z.string(),
    subset: z.enum(['reasoning', 'memorization']),
    question: z.string(),
    expected: z.string(),
    promptHash: z.string(),
    generated: z.string().optional(),
    parsed: z.string().nullable(),
    correct: z.boolean(),
  })
  .passthrough();

const intervention = z
  .object({
    id: z.string(),
    kind: z.enum(['none', 'direction', 'random-direction']),
    hook: z.enum(['hook_resid_pre', 'hook_resid_post']).nullable(),
    layers: z.array(z.number().int()),
    scale: z.number(),
    alpha: z.number(),
  })
  .passthrough();

// Only what the pages read is checked; other fields pass through untouched, so a newer runtime
// adding fields does not make older charts refuse its files.
const runFile = z
  .object({
    format: z.literal('layerlab-run'),
    version: z.literal(1),
    createdAt: z.string(),
    complete: z.boolean(),
    spec: z
      .object({
        command: z.enum(['evaluate', 'sweep']),
        model: z.object({ path: z.string(), modelType: z.string() }).passthrough(),
        data: z.object({ name: z.string() }).passthrough(),
        split: z.string(),
        scoring: z.string(),
      })
      .passthrough(),
    provider: z.string(),
    progress: z.object({ done: z.number(), total: z.number() }),
    results: z.array(
      z
        .object({
          intervention,
          summary: z.object({ reasoning: accuracy, memorization: accuracy }),
          items: z.array(item),
        })
        .passthrough(),
    ),
    warnings: z.array(z.string()).optional(),
  })
  .passthrough();

const separation = z.object({ n: z.number(), auc: z.number().nullable(), cohensD: z.number().nullable(), pearsonR: z.number().nullable().optional() }).passthrough();

const directionStats = z
  .object({
    format: z.literal('layerlab-directions'),
    version: z.literal(1),
    cache: z.object({ path: z.string(), dataName: z.string() }).passthrough(),
    holdout: z.object({ fraction: z.number(), seed: z.number() }),
    layers: z.array(z.object({ hook: z.string(), block: z.number().int(), train: separation, heldOut: separation.optional() }).passthrough()),
    projections: z.record(z.array(z.object({ id: z.string(), subset: z.enum(['reasoning', 'memorization']), split: z.enum(['train', 'heldout']), value: z.number() }))),
  })
  .passthrough();

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ChartFileError(file, `${path.basename(file)} is not valid JSON (${(e as Error).message}); a run still being written is replaced atomically, so this file is damaged.`);
  }
}

function describeIssue(file: string, e: z.ZodError): ChartFileError {
  const i = e.issues[0]!;
  return new ChartFileError(file, `${path.basename(file)}: field ${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** Which page draws a file: by its `format` field; null for other JSON. */
export function chartKindOf(text: string): ChartPageKind | null {
  const m = /"format"\s*:\s*"(layerlab-run|layerlab-directions)"/.exec(text.slice(0, 4096));
  if (!m) return null;
  return m[1] === 'layerlab-run' ? 'run' : 'directions';
}

/** `<model folder>/<file name>`: legends and titles name a run by where it lives. */
export function displayName(file: string): string {
  return `${path.basename(path.dirname(file))}/${path.basename(file)}`;
}

export function parseRunFile(text: string, file: string): LoadedRun {
  const v = parseJson(text, file) as { format?: unknown };
  if (v && typeof v === 'object' && v.format !== 'layerlab-run') {
    const what =
      v.format === 'layerlab-directions'
        ? 'a directions statistics file (open it as a direction chart)'
        : 'not a LayerLab run file (evaluate and sweep write those, under the output folder\u2019s runs/)';
    throw new ChartFileError(file, `${path.basename(file)} is ${what}.`);
  }
  const r = runFile.safeParse(v);
  if (!r.success) throw describeIssue(file, r.error);
  return { path: file, name: displayName(file), run: v as RunFile };
}

export function parseDirectionStats(text: string, file: string): LoadedDirections {
  const v = parseJson(text, file) as { format?: unknown };
  if (v && typeof v === 'object' && v.format !== 'layerlab-directions') {
    throw new ChartFileError(file, `${path.basename(file)} is not a directions statistics file (compute-directions writes <cache>.directions.json).`);
  }
  const r = directionStats.safeParse(v);
  if (!r.success) throw describeIssue(file, r.error);
  // JSON has no NaN: the runtime writes a constant projection's statistics as null.
  return { path: file, name: displayName(file), stats: v as DirectionStatsFile };
}
