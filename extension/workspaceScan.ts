/**
 * Finds what the tree views list in the workspace folders, as plain data: model folders and
 * files, dataset files, cache files, run files. Only discovery: what a model *is* (its blocks,
 * d_model) comes from the runtime, which reads checkpoints the way jobs do. Reading a folder
 * never throws: a folder that does not exist yet is empty, and an unreadable entry becomes an
 * entry with an `error` so the view can say what is wrong with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runFileSchema, type RunFile } from '../runtime/protocol/results';

export interface ModelEntry {
  /** The Hugging Face folder, or the llama2.c `.bin` file. */
  path: string;
  /** As listed: the folder or file name, `folder/file.bin` for a llama2.c file in a folder of its own. */
  name: string;
  format: 'huggingface' | 'llama2c';
  bytes?: number;
}

export interface DatasetEntry {
  path: string;
  name: string;
  format: 'json' | 'jsonl' | 'parquet';
  bytes: number;
  /** Records (for JSON with named splits: per split), when cheap to count. */
  records?: number;
  splits?: Record<string, number>;
  error?: string;
}

export interface FileEntry {
  path: string;
  name: string;
  bytes: number;
  mtimeMs: number;
}

export type RunEntry =
  | {
      kind: 'run';
      path: string;
      name: string;
      mtimeMs: number;
      run: RunFile;
      /** A part of a sharded run (`run.spec.shard`): whether the run it is merged into exists yet. */
      targetExists?: boolean;
    }
  | { kind: 'unreadable'; path: string; name: string; mtimeMs: number; error: string };

/**
 * Hidden-state cache files: `.safetensors` under the cache folder, except the directions that
 * compute-directions writes beside each cache (`<cache>.directions.safetensors`) and the parts of
 * sharded caches (`part-<i>-of-<N>.safetensors`: not caches until merged).
 */
export const CACHE_FILE_RE = /^(?!part-\d+-of-\d+\.safetensors$).*(?<!\.directions)\.safetensors$/i;

/** `<cache>.directions.json`: the statistics compute-directions writes beside a cache file. */
export function directionStatsPathOf(cacheFile: string): string {
  return `${cacheFile.replace(/\.safetensors$/i, '')}.directions.json`;
}

/** Files larger than this are not parsed just to count records. */
const MAX_PARSE_BYTES = 64 * 1024 * 1024;

async function readdir(dir: string): Promise<fs.Dirent[]> {
  try {
    return await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** llama2.c checkpoints are `.bin` files; their tokenizers (`tokenizer.bin`, `tok*.bin`) are not. */
function isLlama2cCheckpoint(name: string): boolean {
  return name.endsWith('.bin') && name !== 'tokenizer.bin' && !/^tok.*\.bin$/.test(name);
}

/**
 * Models in `dir`: Hugging Face folders (with config.json), llama2.c `.bin` checkpoints, and
 * llama2.c checkpoints in a folder of their own (as downloaded: `stories260K/stories260K.bin`
 * beside its `tok512.bin`).
 */
export async function scanModels(dir: string): Promise<ModelEntry[]> {
  const out: ModelEntry[] = [];
  for (const d of await readdir(dir)) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) {
      if (fs.existsSync(path.join(p, 'config.json'))) {
        out.push({ path: p, name: d.name, format: 'huggingface' });
        continue;
      }
      for (const f of await readdir(p)) {
        if (f.isFile() && isLlama2cCheckpoint(f.name)) {
          const file = path.join(p, f.name);
          out.push({ path: file, name: `${d.name}/${f.name}`, format: 'llama2c', bytes: (await fs.promises.stat(file)).size });
        }
      }
    } else if (d.isFile() && isLlama2cCheckpoint(d.name)) {
      out.push({ path: p, name: d.name, format: 'llama2c', bytes: (await fs.promises.stat(p)).size });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** JSON, JSONL and Parquet files directly in `dir`, with record counts where cheap. */
export async function scanDatasets(dir: string): Promise<DatasetEntry[]> {
  const out: DatasetEntry[] = [];
  for (const d of await readdir(dir)) {
    const m = /\.(json|jsonl|parquet)$/i.exec(d.name);
    if (!d.isFile() || !m) continue;
    const p = path.join(dir, d.name);
    const format = m[1].toLowerCase() as DatasetEntry['format'];
    const bytes = (await fs.promises.stat(p)).size;
    const entry: DatasetEntry = { path: p, name: d.name, format, bytes };
    if (format !== 'parquet' && bytes <= MAX_PARSE_BYTES) {
      try {
        Object.assign(entry, countRecords(await fs.promises.readFile(p, 'utf8'), format));
      } catch (e) {
        entry.error = (e as Error).message;
      }
    }
    out.push(entry);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** A JSON array, a JSON object of named splits (PopQA's dev/test), or JSON lines. */
export function countRecords(text: string, format: 'json' | 'jsonl'): Pick<DatasetEntry, 'records' | 'splits'> {
  if (format === 'jsonl') return { records: text.split('\n').filter((l) => l.trim()).length };
  const v = JSON.parse(text) as unknown;
  if (Array.isArray(v)) return { records: v.length };
  if (v && typeof v === 'object') {
    const splits = Object.fromEntries(Object.entries(v).filter(([, x]) => Array.isArray(x)).map(([k, x]) => [k, (x as unknown[]).length]));
    if (Object.keys(splits).length) return { splits, records: Object.values(splits).reduce((a, b) => a + b, 0) };
  }
  throw new Error('not a list of records (expected a JSON array, or an object of named arrays)');
}

/** Files under `dir` (recursively) whose names match `re`. */
export async function scanFiles(dir: string, re: RegExp): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d)) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && re.test(e.name)) {
        const st = await fs.promises.stat(p);
        out.push({ path: p, name: path.relative(dir, p), bytes: st.size, mtimeMs: st.mtimeMs });
      }
    }
  };
  await walk(dir);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Run files (`format: layerlab-run`: evaluations and sweeps, the demo's included) under `runsDir`. */
export async function scanRuns(runsDir: string): Promise<RunEntry[]> {
  const files = await scanFiles(runsDir, /\.json$/i);
  const out: RunEntry[] = [];
  for (const f of files) {
    try {
      const v = JSON.parse(await fs.promises.readFile(f.path, 'utf8')) as Record<string, unknown>;
      // Other JSON files (direction statistics, notes) are not runs; they are left out.
      if (v.format !== 'layerlab-run') continue;
      const r = runFileSchema.safeParse(v);
      if (r.success) out.push({ kind: 'run', path: f.path, name: f.name, mtimeMs: f.mtimeMs, run: r.data, ...shardTarget(r.data) });
      else {
        const issue = r.error.issues[0]!;
        out.push({ kind: 'unreadable', path: f.path, name: f.name, mtimeMs: f.mtimeMs, error: `not a valid run file: field ${issue.path.join('.') || '(root)'}: ${issue.message}` });
      }
    } catch (e) {
      out.push({ kind: 'unreadable', path: f.path, name: f.name, mtimeMs: f.mtimeMs, error: (e as Error).message });
    }
  }
  // Newest first: the run you just made is at the top.
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

/** A sharded run's part: whether its merged run file exists yet (the Runs view groups parts by it). */
function shardTarget(run: RunFile): Pick<Extract<RunEntry, { kind: 'run' }>, 'targetExists'> {
  return run.spec.shard ? { targetExists: fs.existsSync(run.spec.shard.target) } : {};
}
