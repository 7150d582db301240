/**
 * Control vectors as llama.cpp and repeng exchange them, and LayerLab's own safetensors form.
 *
 * GGUF (llama.cpp `common_control_vector_load`, repeng `ControlVector.export_gguf`): metadata
 * `general.architecture = "controlvector"`, `controlvector.model_hint` (the model type, e.g.
 * "llama") and `controlvector.layer_count` (how many directions), one 1-D F32 tensor per layer
 * named `direction.<l>`. **Layer convention**: llama.cpp adds `direction.<l>` to the output of
 * its layer l (0-based) after the feed-forward residual, at every position; repeng reads the
 * same index as `model.layers[l]`'s output (hidden_states[l + 1]). Both are LayerLab's
 * `blocks.<l>.hook_resid_post`. llama.cpp refuses `direction.0` (its block 0 output is never
 * steered), so a vector for blocks.0.hook_resid_post cannot be written to GGUF; only block
 * outputs can (a block input blocks.<l+1>.hook_resid_pre is the same residual in a plain
 * decoder: write it as blocks.<l>.hook_resid_post).
 *
 * safetensors: one 1-D tensor per hook point, named by the hook point (so the layer and which
 * side of the block are in the name), metadata `format = layerlab-steering-vectors` and
 * `model_hint`. Importing also accepts `direction.<l>` tensors (the GGUF convention).
 */
import { hookName, parseHookName } from '../../models/graph/spec';
import { GGUF_TYPE, readGguf, writeGguf } from '../../models/gguf';
import { writeSafetensors } from '../../models/safetensors';
import { UsageError } from '../protocol/argv';

export const CONTROL_VECTOR_ARCH = 'controlvector';
export const CONTROL_VECTOR_KEYS = {
  architecture: 'general.architecture',
  modelHint: 'controlvector.model_hint',
  layerCount: 'controlvector.layer_count',
} as const;
export const STEERING_VECTORS_FORMAT = 'layerlab-steering-vectors';

const DIRECTION_RE = /^direction\.(\d+)$/;

/** `direction.<l>` ↔ blocks.<l>.hook_resid_post. */
export function hookOfControlLayer(layer: number): string {
  return hookName(layer, 'hook_resid_post');
}

/** The `direction.<l>` index of a hook point, or why it has none. */
export function controlLayerOf(hook: string): number {
  const m = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
  if (!m) throw new UsageError(`${hook}: a GGUF control vector holds block outputs only (direction.<l> is added to the output of block l); write blocks.<l>.hook_resid_post`);
  const l = Number(m[1]);
  if (l === 0) throw new UsageError(`${hook}: llama.cpp refuses direction.0 (the output of block 0 is never steered there); leave block 0 out, or write safetensors`);
  return l;
}

/** The layer index of a `direction.<l>` tensor name, or undefined for other names. */
export function controlLayerOfName(name: string): number | undefined {
  const m = DIRECTION_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface ControlVectorFile {
  modelHint?: string;
  /** `controlvector.layer_count` as stored (not checked against the tensors: loaders ignore it). */
  layerCount?: number;
  /** Hook point → vector, in file order. */
  vectors: Map<string, Float32Array>;
  warnings: string[];
}

/** Reads a GGUF control vector (llama.cpp's and repeng's layout; see the module comment). */
export function readControlVectorGguf(file: string): ControlVectorFile {
  const g = readGguf(file);
  const warnings: string[] = [];
  const arch = g.metadata.get(CONTROL_VECTOR_KEYS.architecture);
  if (arch !== CONTROL_VECTOR_ARCH) warnings.push(`${file}: general.architecture is ${arch === undefined ? 'missing' : JSON.stringify(arch)}, not "controlvector"; reading its direction.<l> tensors anyway`);
  const hint = g.metadata.get(CONTROL_VECTOR_KEYS.modelHint);
  const count = g.metadata.get(CONTROL_VECTOR_KEYS.layerCount);
  const vectors = new Map<string, Float32Array>();
  for (const t of g.tensors) {
    const l = controlLayerOfName(t.name);
    if (l === undefined) throw new UsageError(`${file}: tensor ${t.name} is not a control-vector direction (direction.<layer>)`);
    if (t.dims.length !== 1) throw new UsageError(`${file}: ${t.name} has shape [${t.dims.join(', ')}]; a direction is 1-D`);
    const hook = hookOfControlLayer(l);
    // llama.cpp sums repeated layers; so does LayerLab.
    const v = g.read(t.name);
    const prev = vectors.get(hook);
    vectors.set(hook, prev ? Float32Array.from(prev, (x, i) => x + v[i]!) : v);
  }
  if (vectors.size === 0) throw new UsageError(`${file}: no direction.<layer> tensors`);
  return {
    ...(typeof hint === 'string' ? { modelHint: hint } : {}),
    ...(typeof count === 'number' || typeof count === 'bigint' ? { layerCount: Number(count) } : {}),
    vectors,
    warnings,
  };
}

/** Writes a GGUF control vector: block outputs only, as direction.<l>, sorted by layer. */
export function writeControlVectorGguf(file: string, vectors: { hook: string; vector: Float32Array }[], modelHint: string): { hook: string; layer: number }[] {
  const rows = vectors.map((v) => ({ ...v, layer: controlLayerOf(v.hook) })).sort((a, b) => a.layer - b.layer);
  for (let i = 1; i < rows.length; i++) if (rows[i]!.layer === rows[i - 1]!.layer) throw new UsageError(`${rows[i]!.hook} is given twice`);
  writeGguf(
    file,
    [
      { key: CONTROL_VECTOR_KEYS.architecture, type: GGUF_TYPE.STRING, value: CONTROL_VECTOR_ARCH },
      { key: CONTROL_VECTOR_KEYS.modelHint, type: GGUF_TYPE.STRING, value: modelHint },
      // repeng writes u32; llama.cpp's loader reads no metadata at all.
      { key: CONTROL_VECTOR_KEYS.layerCount, type: GGUF_TYPE.UINT32, value: rows.length },
    ],
    rows.map((r) => ({ name: `direction.${r.layer}`, data: r.vector })),
  );
  return rows.map(({ hook, layer }) => ({ hook, layer }));
}

/** Writes LayerLab's safetensors form: one 1-D tensor per hook point, named by it. */
export function writeSteeringSafetensors(file: string, vectors: { hook: string; vector: Float32Array }[], metadata: Record<string, string>): void {
  writeSafetensors(
    file,
    vectors.map((v) => ({ name: v.hook, dtype: 'F32', shape: [v.vector.length], data: v.vector })),
    { ...metadata, format: STEERING_VECTORS_FORMAT },
  );
}

/** Checks a hook name against a model, as a usage error naming the flag. */
export function checkHook(hook: string, nBlocks: number, flag: string): void {
  try {
    parseHookName(hook, nBlocks);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}
