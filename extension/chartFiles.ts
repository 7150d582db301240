/**
 * Reading the files chart pages draw: run files (evaluate, sweep) and direction statistics
 * (compute-directions). A page trusts what the host posts, so the host checks here that a file
 * is what it claims, against the format's schema (runtime/protocol/results.ts, the one the
 * runtime's types come from), and says which file and field is wrong otherwise. Plain Node (no `vscode`), so it is unit-tested directly.
 */
import * as path from 'node:path';
import type { z } from 'zod';
import { directionStatsFileSchema, runFileSchema } from '../runtime/protocol/results';
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
  const r = runFileSchema.safeParse(v);
  if (!r.success) throw describeIssue(file, r.error);
  return { path: file, name: displayName(file), run: r.data };
}

export function parseDirectionStats(text: string, file: string): LoadedDirections {
  const v = parseJson(text, file) as { format?: unknown };
  if (v && typeof v === 'object' && v.format !== 'layerlab-directions') {
    throw new ChartFileError(file, `${path.basename(file)} is not a directions statistics file (compute-directions writes <cache>.directions.json).`);
  }
  const r = directionStatsFileSchema.safeParse(v);
  if (!r.success) throw describeIssue(file, r.error);
  // JSON has no NaN: the runtime writes a constant projection's statistics as null.
  return { path: file, name: displayName(file), stats: r.data };
}
