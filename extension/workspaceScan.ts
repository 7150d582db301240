/**
 * Finds what the tree views list in the workspace folders, as plain data: model folders and
 * files, dataset files, cache files, run files. Only discovery: what a model *is* (its blocks,
 * d_model) comes from the runtime, which reads checkpoints the way jobs do. Reading a folder
 * never throws: a folder that does not exist yet is empty, and an unreadable entry becomes an
 * entry with an `error` so the view can say what is wrong with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CacheDescription } from '../runtime/protocol/labels';
import { runFileSchema, type RunFile } from '../runtime/protocol/results';
import type { SourceIdentity } from './compatibility';

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

/** `<cache>.directions.safetensors`: the directions compute-directions writes beside a cache file (and evaluate reads). */
export function directionsPathOf(cacheFile: string): string {
  return `${cacheFile.replace(/\.safetensors$/i, '')}.directions.safetensors`;
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

// ---------------------------------------------------------------------------------------------
// Hidden-state caches and directions, described from their safetensors headers

/** A safetensors file's header: its `__metadata__` strings and each tensor's shape. */
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: { name: string; shape: number[] }[];
}

/** A header larger than this is not a LayerLab file (theirs are a few hundred KB at most). */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

/**
 * Reads only the header (8-byte length, then JSON), never the tensors: pickers describe every
 * cache in a folder this way without starting the runtime. Throws on a file that is not
 * safetensors.
 */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const len = Buffer.alloc(8);
    await fd.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (n <= 0 || n > MAX_HEADER_BYTES) throw new Error(`${path.basename(file)} is not a safetensors file`);
    const buf = Buffer.alloc(n);
    await fd.read(buf, 0, n, 8);
    const header = JSON.parse(buf.toString('utf8')) as Record<string, { shape?: number[] } | Record<string, string>>;
    const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
    const tensors = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .map(([name, t]) => ({ name, shape: ((t as { shape?: number[] }).shape ?? []).map(Number) }));
    return { metadata, tensors };
  } finally {
    await fd.close();
  }
}

/** A complete hidden-state cache or a directions file, as its header describes it. */
export interface HiddenStateFile extends FileEntry {
  kind: 'cache' | 'directions';
  /** What labels are made of (runtime/protocol/labels.ts). */
  description: CacheDescription;
  /** Where it came from, for the compatibility check. */
  source: SourceIdentity;
  hooks: string[];
}

function describeHeader(f: FileEntry, h: SafetensorsHeader): HiddenStateFile | undefined {
  const m = h.metadata;
  const kind = m.format === 'layerlab-hidden-states' ? 'cache' : m.format === 'layerlab-directions' ? 'directions' : undefined;
  if (!kind) return undefined;
  const hooks = h.tensors.map((t) => t.name).filter((n) => !n.endsWith('.norm'));
  const rows = Number(m.rows ?? m.n_records ?? 0);
  const dModel = h.tensors.find((t) => hooks.includes(t.name))?.shape.at(-1);
  return {
    ...f,
    kind,
    hooks,
    description: {
      dataName: m.data_name || path.basename(f.path).replace(/(\.directions)?\.safetensors$/i, ''),
      positions: (['last', 'mean', 'all'] as const).find((p) => p === m.positions) ?? 'last',
      dtype: m.dtype === 'float16' ? 'float16' : 'float32',
      rows,
      provenance: m,
      hooks: hooks.map((name) => ({ name })),
    },
    source: {
      file: f.path,
      what: kind,
      ...(m.model_path ? { modelPath: m.model_path } : {}),
      ...(m.model_hash ? { modelHash: m.model_hash } : {}),
      ...(m.model_options !== undefined ? { modelOptions: m.model_options } : {}),
      ...(dModel !== undefined ? { dModel } : {}),
    },
  };
}

/**
 * A file's description from its header, or undefined when it is not a complete cache or a
 * directions file. A directions file records the model's hash and options (compute-directions
 * copies them from its cache) but not its path: that is taken from the cache beside it, when
 * it is still there.
 */
async function describeHiddenStateEntry(f: FileEntry): Promise<HiddenStateFile | undefined> {
  let d: HiddenStateFile | undefined;
  try {
    d = describeHeader(f, await readSafetensorsHeader(f.path));
  } catch {
    return undefined; // not a safetensors file (or one being written)
  }
  if (!d || (d.kind === 'cache' && d.description.provenance.complete !== 'true')) return undefined;
  const cacheName = d.description.provenance.cache_file;
  if (d.kind === 'directions' && cacheName) {
    try {
      const c = await readSafetensorsHeader(path.join(path.dirname(f.path), cacheName));
      if (c.metadata.model_path && !d.source.modelPath) d.source.modelPath = c.metadata.model_path;
      d.description.provenance = { ...c.metadata, ...d.description.provenance };
    } catch {
      // the cache is gone: the directions still carry the model's hash
    }
  }
  return d;
}

/**
 * Complete caches and directions files under `dir`, described from their headers; files that
 * are not LayerLab's are left out (the Cache view, served by the runtime, says what is wrong
 * with a file).
 */
export async function scanHiddenStateFiles(dir: string): Promise<HiddenStateFile[]> {
  const out: HiddenStateFile[] = [];
  for (const f of await scanFiles(dir, /\.safetensors$/i)) {
    const d = await describeHiddenStateEntry(f);
    if (d) out.push(d);
  }
  return out;
}

/** One cache or directions file anywhere (e.g. browsed to), described the same way. */
export async function describeHiddenStateFile(file: string): Promise<HiddenStateFile | undefined> {
  const st = await fs.promises.stat(file);
  return describeHiddenStateEntry({ path: file, name: path.basename(file), bytes: st.size, mtimeMs: st.mtimeMs });
}
