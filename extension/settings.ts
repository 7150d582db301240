/**
 * LayerLab's settings as plain data: what package.json's `contributes.configuration` declares,
 * resolved against the workspace folder. Kept free of `vscode` so the resolution rules are
 * unit-tested; extension.ts reads the raw values and calls resolveSettings.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { PROVIDER_PREFERENCES, WEIGHT_PRECISIONS, type ProviderPreference, type WeightPrecision } from '../runtime/protocol/requests';
import { OUTPUT_SUBFOLDERS, WORKSPACE_DEFAULTS } from '../runtime/protocol/workspace';

/** The `layerlab.*` values as VS Code returns them (any may be missing or of the wrong type). */
export interface RawSettings {
  modelsPath?: unknown;
  datasetsPath?: unknown;
  outputPath?: unknown;
  provider?: unknown;
  weights?: unknown;
  threads?: unknown;
  batchSize?: unknown;
  nodePath?: unknown;
}

export interface LayerLabSettings {
  /** Absolute folders. */
  modelsPath: string;
  datasetsPath: string;
  outputPath: string;
  provider: ProviderPreference;
  /** Storage precision of the weights (fp32 exact; fp16 for GPUs; int8/int4 smaller and faster on CPUs). */
  weights: WeightPrecision;
  /** 0 lets ONNX Runtime decide. */
  threads: number;
  /** Undefined: each job's own default (the CLI's). */
  batchSize?: number;
  /** Node executable for the runtime; undefined means VS Code's own. */
  nodePath?: string;
}

export const SETTING_DEFAULTS = Object.freeze({
  ...WORKSPACE_DEFAULTS,
  provider: 'auto' as ProviderPreference,
  weights: 'fp32' as WeightPrecision,
  threads: 0,
});

/**
 * Relative paths resolve against the workspace folder (`~/` against the home folder). Values of
 * the wrong type fall back to the defaults rather than failing: a typo in settings.json must not
 * disable the extension.
 */
export function resolveSettings(raw: RawSettings, workspaceRoot: string): LayerLabSettings {
  const str = (v: unknown, d: string) => (typeof v === 'string' && v.trim() ? v.trim() : d);
  const int = (v: unknown, d: number, min: number) => (typeof v === 'number' && Number.isInteger(v) && v >= min ? v : d);
  const dir = (v: unknown, d: string) => resolvePath(str(v, d), workspaceRoot);
  const oneOf = <T extends string>(v: unknown, options: readonly T[], d: T): T => (options.includes(v as T) ? (v as T) : d);
  const provider = oneOf(raw.provider, PROVIDER_PREFERENCES, SETTING_DEFAULTS.provider);
  const weights = oneOf(raw.weights, WEIGHT_PRECISIONS, SETTING_DEFAULTS.weights);
  const nodePath = typeof raw.nodePath === 'string' && raw.nodePath.trim() ? resolvePath(raw.nodePath.trim(), workspaceRoot) : undefined;
  return {
    modelsPath: dir(raw.modelsPath, SETTING_DEFAULTS.modelsPath),
    datasetsPath: dir(raw.datasetsPath, SETTING_DEFAULTS.datasetsPath),
    outputPath: dir(raw.outputPath, SETTING_DEFAULTS.outputPath),
    provider,
    weights,
    threads: int(raw.threads, SETTING_DEFAULTS.threads, 0),
    ...(typeof raw.batchSize === 'number' && Number.isInteger(raw.batchSize) && raw.batchSize >= 1 ? { batchSize: raw.batchSize } : {}),
    ...(nodePath ? { nodePath } : {}),
  };
}

export function resolvePath(p: string, base: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return path.resolve(base, p);
}

/** Where each kind of result lives under the output folder. */
export function outputFolders(s: Pick<LayerLabSettings, 'outputPath'>): Record<keyof typeof OUTPUT_SUBFOLDERS, string> {
  return {
    cache: path.join(s.outputPath, OUTPUT_SUBFOLDERS.cache),
    runs: path.join(s.outputPath, OUTPUT_SUBFOLDERS.runs),
    thinking: path.join(s.outputPath, OUTPUT_SUBFOLDERS.thinking),
  };
}
