/**
 * Steering vectors from wherever they are: a directions file (compute-directions), any
 * safetensors file (tensors named by hook point, `direction.<l>` control-vector tensors, or a
 * single tensor), a .npy file, a GGUF control vector, or the contrast of two prompt sets
 * (contrastive activation addition: mean(positive) − mean(negative) at each hook). A VectorSet
 * answers "which vector at this hook point", or says which hooks it has.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDirections } from '../analysis/directions';
import { readNpy } from '../../models/npy';
import { openSafetensors } from '../../models/safetensors';
import { UsageError } from '../protocol/argv';
import { controlLayerOfName, hookOfControlLayer, readControlVectorGguf, STEERING_VECTORS_FORMAT } from './controlVector';

export interface VectorSpec {
  /** A vector file. */
  file?: string;
  /** One tensor of the file for every hook. */
  tensor?: string;
  /** A row of a 2-D tensor. */
  row?: number;
  /** Contrast sets: trace files or prompt files. */
  positive?: string[];
  negative?: string[];
}

/** The flags a VectorSpec came from, for messages (steering and projection name them differently). */
export interface VectorFlags {
  file: string;
  tensor: string;
  row: string;
  positive: string;
  negative: string;
}

export const STEER_FLAGS: VectorFlags = { file: '--steer_vector', tensor: '--steer_tensor', row: '--steer_row', positive: '--steer_positive', negative: '--steer_negative' };

export interface ResolvedVector {
  vector: Float32Array;
  /** Where it came from, e.g. `directions.safetensors:blocks.3.hook_resid_post`. */
  from: string;
}

export interface VectorSet {
  /** The source in words. */
  source: string;
  /** The vector at a hook point; a usage error naming the hooks available when there is none. */
  at(hook: string): ResolvedVector;
  /** Hook points the set has a vector for (all: one vector serves every hook). */
  hooks: string[] | 'all';
  /** A GGUF file's model hint. */
  modelHint?: string;
  warnings: string[];
}

/**
 * Mean hidden state of a set of files at each hook: trace files are read, prompt files are run
 * through the model (at their last token). Supplied by the caller, which holds the model.
 */
export type MeanStates = (files: string[], hooks: string[], what: string) => Promise<Map<string, Float64Array>>;

export interface LoadContext {
  nBlocks: number;
  /** The model's d_model (undefined: no model, any length is accepted). */
  dModel: number | undefined;
  /** Hooks the caller will ask for (contrast sets are computed at these). */
  hooks: string[];
  meanStates?: MeanStates;
}

function short(file: string): string {
  return path.basename(file);
}

function checkVector(v: Float32Array, d: number | undefined, what: string): Float32Array {
  if (d !== undefined && v.length !== d) throw new UsageError(`${what} has ${v.length} values; this model's d_model is ${d}`);
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new UsageError(`${what} holds a non-finite value (${v[i]}) at ${i}`);
  return v;
}

/** A row of a [rows, d] tensor, or the tensor itself when 1-D. */
function pickRow(data: Float32Array, shape: readonly number[], row: number | undefined, what: string, rowFlag: string): Float32Array {
  if (shape.length === 1) {
    if (row !== undefined && row !== 0) throw new UsageError(`${what} is 1-D; ${rowFlag} ${row} does not apply`);
    return data;
  }
  if (shape.length !== 2) throw new UsageError(`${what} has shape [${shape.join(', ')}]; a steering vector is 1-D, or a row of a 2-D tensor`);
  const [n, d] = shape as [number, number];
  if (row === undefined) throw new UsageError(`${what} has ${n} rows of ${d}: choose one with ${rowFlag}`);
  if (row >= n) throw new UsageError(`${rowFlag} ${row}: ${what} has rows 0..${n - 1}`);
  return data.slice(row * d, (row + 1) * d);
}

function fromMap(source: string, byHook: Map<string, ResolvedVector>, warnings: string[] = [], modelHint?: string): VectorSet {
  return {
    source,
    hooks: [...byHook.keys()],
    warnings,
    ...(modelHint !== undefined ? { modelHint } : {}),
    at(hook) {
      const v = byHook.get(hook);
      if (!v) {
        const have = [...byHook.keys()];
        throw new UsageError(`${source} has no vector for ${hook}; it has ${have.length ? have.slice(0, 12).join(', ') + (have.length > 12 ? ', …' : '') : 'none'}`);
      }
      return v;
    },
  };
}

function everywhere(source: string, v: ResolvedVector, warnings: string[] = []): VectorSet {
  return { source, hooks: 'all', warnings, at: () => v };
}

/** Loads the vectors a spec names, checked against the model's d_model. */
export async function loadVectorSet(spec: VectorSpec, ctx: LoadContext, flags: VectorFlags = STEER_FLAGS): Promise<VectorSet> {
  if (spec.positive || spec.negative) return contrastSet(spec, ctx, flags);
  if (!spec.file) throw new UsageError(`steering needs a vector: ${flags.file} FILE, or ${flags.positive} … ${flags.negative} …`);
  const file = path.resolve(spec.file);
  if (!fs.existsSync(file)) throw new UsageError(`${flags.file} ${spec.file}: file not found`);
  const ext = path.extname(file).toLowerCase();
  const d = ctx.dModel;
  if (ext === '.npy') {
    const a = readNpy(file);
    if (a.shape.length === 2 && spec.row === undefined && a.shape[0] === ctx.nBlocks && d !== undefined) {
      // One row per block: row l serves block l's hook points.
      const rows = (hook: string) => Number(/^blocks\.(\d+)\./.exec(hook)![1]);
      return {
        source: short(file),
        hooks: 'all',
        warnings: [],
        at: (hook) => ({ vector: checkVector(a.data.slice(rows(hook) * d, (rows(hook) + 1) * d), d, `${short(file)} row ${rows(hook)}`), from: `${short(file)}[${rows(hook)}]` }),
      };
    }
    const v = checkVector(pickRow(a.data, a.shape, spec.row, short(file), flags.row), d, short(file));
    return everywhere(short(file), { vector: v, from: spec.row !== undefined ? `${short(file)}[${spec.row}]` : short(file) });
  }
  if (ext === '.gguf') {
    const cv = readControlVectorGguf(file);
    const byHook = new Map<string, ResolvedVector>();
    for (const [hook, v] of cv.vectors) byHook.set(hook, { vector: checkVector(v, d, `${short(file)} ${hook}`), from: `${short(file)}:direction.${/^blocks\.(\d+)\./.exec(hook)![1]}` });
    if (spec.tensor !== undefined) {
      const l = controlLayerOfName(spec.tensor);
      const hook = l !== undefined ? hookOfControlLayer(l) : spec.tensor;
      const v = byHook.get(hook);
      if (!v) throw new UsageError(`${flags.tensor} ${spec.tensor}: ${short(file)} has ${[...cv.vectors.keys()].map((h) => `direction.${/^blocks\.(\d+)\./.exec(h)![1]}`).join(', ')}`);
      return everywhere(short(file), v, cv.warnings);
    }
    return fromMap(short(file), byHook, cv.warnings, cv.modelHint);
  }
  if (ext !== '.safetensors') throw new UsageError(`${flags.file} ${spec.file}: not a vector file LayerLab reads (.safetensors, .npy or .gguf)`);
  const st = openSafetensors(file);
  if (st.metadata.format === 'layerlab-directions') {
    // Through the directions reader, which refuses a directions file out of step with its statistics.
    const dirs = loadDirections(file);
    if (spec.tensor !== undefined) {
      const v = dirs.directions.get(spec.tensor);
      if (!v) throw new UsageError(`${flags.tensor} ${spec.tensor}: ${short(file)} has ${[...dirs.directions.keys()].join(', ')}`);
      return everywhere(short(file), { vector: checkVector(v, d, `${short(file)}:${spec.tensor}`), from: `${short(file)}:${spec.tensor}` });
    }
    const byHook = new Map<string, ResolvedVector>();
    for (const [hook, v] of dirs.directions) byHook.set(hook, { vector: checkVector(v, d, `${short(file)}:${hook}`), from: `${short(file)}:${hook}` });
    return fromMap(short(file), byHook);
  }
  const read = (name: string) => {
    const t = st.read(name);
    return checkVector(pickRow(t.data, t.dims, spec.row, `${short(file)}:${name}`, flags.row), d, `${short(file)}:${name}`);
  };
  const rowTag = spec.row !== undefined ? `[${spec.row}]` : '';
  if (spec.tensor !== undefined) {
    if (!st.names.includes(spec.tensor)) throw new UsageError(`${flags.tensor} ${spec.tensor}: ${short(file)} has ${st.names.slice(0, 12).join(', ')}${st.names.length > 12 ? ', …' : ''}`);
    return everywhere(short(file), { vector: read(spec.tensor), from: `${short(file)}:${spec.tensor}${rowTag}` });
  }
  const hookNamed = st.names.filter((n) => /^blocks\.\d+\.hook_resid_(pre|post)$/.test(n));
  const controlNamed = st.names.filter((n) => controlLayerOfName(n) !== undefined);
  if (hookNamed.length || controlNamed.length) {
    const byHook = new Map<string, ResolvedVector>();
    // Hook points are read lazily: a trace file holds every hook, and a steer uses a few.
    const names = new Map<string, string>();
    for (const n of hookNamed) names.set(n, n);
    for (const n of controlNamed) names.set(hookOfControlLayer(controlLayerOfName(n)!), n);
    const set = fromMap(short(file), byHook, [], st.metadata.model_hint);
    return {
      ...set,
      hooks: [...names.keys()],
      at(hook) {
        const name = names.get(hook);
        if (name && !byHook.has(hook)) byHook.set(hook, { vector: read(name), from: `${short(file)}:${name}${rowTag}` });
        if (!name) {
          const have = [...names.keys()];
          throw new UsageError(`${short(file)} has no vector for ${hook}; it has ${have.slice(0, 12).join(', ')}${have.length > 12 ? ', …' : ''}${st.metadata.format === STEERING_VECTORS_FORMAT ? '' : ''}`);
        }
        return byHook.get(hook)!;
      },
    };
  }
  if (st.names.length === 1) return everywhere(short(file), { vector: read(st.names[0]!), from: `${short(file)}:${st.names[0]}${rowTag}` });
  throw new UsageError(`${short(file)} has ${st.names.length} tensors and none is named by a hook point (blocks.<l>.hook_resid_post) or as direction.<l>: choose one with ${flags.tensor}`);
}

/** Contrastive activation addition: u = mean(positive) − mean(negative) at each hook. */
async function contrastSet(spec: VectorSpec, ctx: LoadContext, flags: VectorFlags): Promise<VectorSet> {
  if (!spec.positive?.length || !spec.negative?.length) throw new UsageError(`${flags.positive} and ${flags.negative} go together: the vector is mean(positive) − mean(negative)`);
  if (spec.file !== undefined) throw new UsageError(`${flags.file} conflicts with ${flags.positive}: the vector comes from a file or from two contrast sets, not both`);
  if (!ctx.meanStates) throw new UsageError(`${flags.positive} needs a model to run the prompts through`);
  const pos = await ctx.meanStates(spec.positive, ctx.hooks, 'positive');
  const neg = await ctx.meanStates(spec.negative, ctx.hooks, 'negative');
  const source = `mean(${spec.positive.map(short).join(', ')}) − mean(${spec.negative.map(short).join(', ')})`;
  const byHook = new Map<string, ResolvedVector>();
  for (const hook of ctx.hooks) {
    const p = pos.get(hook);
    const n = neg.get(hook);
    if (!p || !n) continue;
    byHook.set(hook, { vector: checkVector(Float32Array.from(p, (x, i) => x - n[i]!), ctx.dModel, `the contrast at ${hook}`), from: 'contrast' });
  }
  return fromMap(source, byHook);
}
