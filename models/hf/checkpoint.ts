/**
 * Reader for Hugging Face model folders of the Llama family: `config.json` plus weights in
 * `model.safetensors` or sharded as `model.safetensors.index.json` + shard files.
 *
 * Supported `model_type`s share one architecture (pre-norm decoder, RMSNorm, rotary embeddings
 * in the "halves" pairing, grouped-query attention, SwiGLU MLP): `llama`, `mistral`, and `qwen2`
 * (which adds q/k/v biases). Config features that would change the computation and that the graph
 * builder does not model (rotary scaling, other activations, o_proj/MLP biases) are refused rather
 * than silently ignored, and so is any weight tensor the reader does not map.
 *
 * Sliding-window attention (Mistral's `sliding_window`, Qwen2's `use_sliding_window`) is ignored:
 * it only changes attention for sequences longer than the window (4096+ tokens on released
 * models), far beyond the prompts LayerLab runs, and `maxSeqLen` stays `max_position_embeddings`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  CheckpointError,
  checkFiniteWeights,
  validateLlamaCheckpoint,
  type LlamaCheckpoint,
  type LlamaConfig,
  type LlamaLayerWeights,
  type LlamaWeights,
  type CheckpointProbe,
  type LlamaTensorKey,
  type LlamaTensorReader,
  type Tensor,
} from '../checkpoint';
import { openSafetensors, type SafetensorsFile } from '../safetensors';
import { hashFiles, type HashProgress } from '../fingerprint';

export const SUPPORTED_HF_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;
export type HfModelType = (typeof SUPPORTED_HF_MODEL_TYPES)[number];

const SINGLE_WEIGHTS_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

const posInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

/** The config.json fields the reader uses; unknown fields pass through untouched. */
const hfConfigSchema = z
  .object({
    model_type: z.enum(SUPPORTED_HF_MODEL_TYPES),
    hidden_size: posInt,
    num_hidden_layers: posInt,
    num_attention_heads: posInt,
    num_key_value_heads: posInt.nullish(),
    head_dim: posInt.nullish(),
    intermediate_size: posInt,
    vocab_size: posInt,
    max_position_embeddings: posInt,
    rope_theta: z.number().positive().nullish(),
    rms_norm_eps: z.number().positive().nullish(),
    tie_word_embeddings: z.boolean().nullish(),
    bos_token_id: tokenId.nullish(),
    eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
    hidden_act: z.string().nullish(),
    attention_bias: z.boolean().nullish(),
    mlp_bias: z.boolean().nullish(),
    rope_scaling: z.record(z.unknown()).nullish(),
    /** transformers ≥ 5 moves rope_theta and the scaling type here. */
    rope_parameters: z.record(z.unknown()).nullish(),
  })
  .passthrough();

type HfConfig = z.infer<typeof hfConfigSchema>;

/**
 * Everything about a folder that its JSON files and safetensors headers tell, checked, without
 * reading any weight.
 */
function inspectHf(dir: string) {
  const source = path.resolve(dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    throw new CheckpointError(source, 'model folder not found');
  }
  if (!st.isDirectory()) {
    throw new CheckpointError(source, 'is not a folder; point to the Hugging Face model folder that holds config.json');
  }

  const configPath = path.join(source, 'config.json');
  const configBytes = readBytes(configPath, 'a Hugging Face model folder needs config.json');
  const hf = parseConfig(configPath, configBytes);
  const config = toLlamaConfig(configPath, hf);

  const weightFiles = locateWeights(source);
  const shards = weightFiles.files;

  const q = config.nHeads * config.headDim;
  const kv = config.nKvHeads * config.headDim;
  const d = config.dModel;
  const get = (name: string, dims: number[]): Tensor => {
    const file = weightFiles.byTensor.get(name);
    if (!file) throw new CheckpointError(weightFiles.describedBy, `missing tensor ${name}`);
    const info = shards.get(file)!.header[name];
    if (info.shape.length !== dims.length || info.shape.some((n, i) => n !== dims[i])) {
      throw new CheckpointError(
        file,
        `tensor ${name} has shape [${info.shape.join(', ')}], but config.json implies [${dims.join(', ')}]`,
      );
    }
    const t = shards.get(file)!.read(name);
    checkFiniteWeights(file, name, t.data, t.dims);
    return t;
  };

  // Name and expected shape of every tensor, keyed like LlamaLayerWeights.
  const layerSpecs = Array.from({ length: config.nLayers }, (_, i) => {
    const p = `model.layers.${i}.`;
    const spec: Partial<Record<keyof LlamaLayerWeights, [string, number[]]>> = {
      attnNorm: [`${p}input_layernorm.weight`, [d]],
      wq: [`${p}self_attn.q_proj.weight`, [q, d]],
      wk: [`${p}self_attn.k_proj.weight`, [kv, d]],
      wv: [`${p}self_attn.v_proj.weight`, [kv, d]],
      wo: [`${p}self_attn.o_proj.weight`, [d, q]],
      ffnNorm: [`${p}post_attention_layernorm.weight`, [d]],
      wGate: [`${p}mlp.gate_proj.weight`, [config.dFF, d]],
      wUp: [`${p}mlp.up_proj.weight`, [config.dFF, d]],
      wDown: [`${p}mlp.down_proj.weight`, [d, config.dFF]],
    };
    if (config.qkvBias) {
      spec.bq = [`${p}self_attn.q_proj.bias`, [q]];
      spec.bk = [`${p}self_attn.k_proj.bias`, [kv]];
      spec.bv = [`${p}self_attn.v_proj.bias`, [kv]];
    }
    return spec;
  });
  // A checkpoint saved without lm_head can only mean tied embeddings, whatever config.json says;
  // with tie_word_embeddings true a stored lm_head is a redundant copy and is not read.
  config.tiedEmbeddings = hf.tie_word_embeddings === true || !weightFiles.byTensor.has('lm_head.weight');

  // Refuse unknown tensors before reading gigabytes: ignoring weights would change the outputs.
  const known = new Set(['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight']);
  for (const spec of layerSpecs) for (const [name] of Object.values(spec)) known.add(name);
  for (const [name, file] of weightFiles.byTensor) {
    // Old Llama exports stored the rotary frequency table, which is recomputed from rope_theta.
    if (known.has(name) || name.endsWith('.rotary_emb.inv_freq')) continue;
    throw new CheckpointError(file, `unexpected tensor ${name}: the ${hf.model_type} reader does not use it, and ignoring weights would change the model's outputs`);
  }
  return { source, configBytes, config, weightFiles, layerSpecs, get };
}

/**
 * A tensor-at-a-time reader of a Hugging Face folder (each tensor converted to fp32 when asked).
 * Every tensor the model needs is checked against the headers first, so a missing or misshapen
 * tensor fails before any conversion starts.
 */
export function hfLlamaTensorReader(dir: string): LlamaTensorReader {
  const { config, weightFiles, layerSpecs, get } = inspectHf(dir);
  const d = config.dModel;
  const names = new Map<LlamaTensorKey, [string, number[]]>([
    ['embed', ['model.embed_tokens.weight', [config.vocabSize, d]]],
    ['finalNorm', ['model.norm.weight', [d]]],
  ]);
  if (!config.tiedEmbeddings) names.set('lmHead', ['lm_head.weight', [config.vocabSize, d]]);
  layerSpecs.forEach((spec, i) => {
    for (const [key, entry] of Object.entries(spec)) names.set(`layers.${i}.${key}` as LlamaTensorKey, entry);
  });
  for (const [, [name, dims]] of names) {
    const file = weightFiles.byTensor.get(name);
    if (!file) throw new CheckpointError(weightFiles.describedBy, `missing tensor ${name}`);
    const info = weightFiles.files.get(file)!.header[name];
    if (info.shape.length !== dims.length || info.shape.some((n, k) => n !== dims[k])) {
      throw new CheckpointError(file, `tensor ${name} has shape [${info.shape.join(', ')}], but config.json implies [${dims.join(', ')}]`);
    }
  }
  return (key) => {
    const entry = names.get(key);
    if (!entry) throw new Error(`hf reader: ${key} is not a tensor of this model`);
    return get(entry[0], entry[1]);
  };
}

/** Config and content hash of a Hugging Face folder, read from headers only (no weights). */
export function probeHfCheckpoint(dir: string, onProgress?: HashProgress): CheckpointProbe {
  const { source, configBytes, config, weightFiles } = inspectHf(dir);
  return { config, source, contentHash: hashFiles(configBytes, [...weightFiles.files.keys()].sort(), onProgress) };
}

/** Reads a Hugging Face Llama/Mistral/Qwen2 folder into the shared in-memory checkpoint form. */
export function readHfCheckpoint(dir: string): LlamaCheckpoint {
  const { source, configBytes, config, weightFiles, layerSpecs, get } = inspectHf(dir);
  const d = config.dModel;
  const shards = weightFiles.files;
  const embed = get('model.embed_tokens.weight', [config.vocabSize, d]);
  const layers = layerSpecs.map((spec) => {
    const layer: Partial<LlamaLayerWeights> = {};
    for (const [key, [name, dims]] of Object.entries(spec) as [keyof LlamaLayerWeights, [string, number[]]][]) {
      layer[key] = get(name, dims);
    }
    return layer as LlamaLayerWeights;
  });
  const weights: LlamaWeights = { embed, layers, finalNorm: get('model.norm.weight', [d]) };
  if (!config.tiedEmbeddings) weights.lmHead = get('lm_head.weight', [config.vocabSize, d]);

  const ckpt: LlamaCheckpoint = {
    config,
    weights,
    source,
    contentHash: hashFiles(configBytes, [...shards.keys()].sort()),
  };
  validateLlamaCheckpoint(ckpt);
  return ckpt;
}

/** Exported for the other Hugging Face readers (models/huginn). */
export function readBytes(file: string, whyNeeded: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? `missing: ${whyNeeded}` : `cannot read: ${(e as Error).message}`);
  }
}

export function parseJson(file: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new CheckpointError(file, `is not valid JSON: ${(e as Error).message}`);
  }
}

function parseConfig(configPath: string, bytes: Buffer): HfConfig {
  const raw = parseJson(configPath, bytes);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(configPath, 'must hold a JSON object');
  // Check model_type first: other architectures name their fields differently (gpt2's n_embd),
  // and "unsupported model" is the useful message there, not "hidden_size is missing".
  const modelType = (raw as Record<string, unknown>).model_type;
  if (modelType === undefined) throw new CheckpointError(configPath, "field 'model_type' is missing");
  if (!(SUPPORTED_HF_MODEL_TYPES as readonly unknown[]).includes(modelType)) {
    throw new CheckpointError(
      configPath,
      `unsupported model_type '${String(modelType)}' (supported: ${SUPPORTED_HF_MODEL_TYPES.join(', ')})`,
    );
  }
  const parsed = hfConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const field = issue.path.join('.');
      const missing = issue.code === 'invalid_type' && issue.received === 'undefined';
      return missing ? `field '${field}' is missing` : `field '${field}': ${issue.message}`;
    });
    throw new CheckpointError(configPath, problems.join('; '));
  }
  return parsed.data;
}

function toLlamaConfig(configPath: string, hf: HfConfig): LlamaConfig {
  const fail = (msg: string): never => {
    throw new CheckpointError(configPath, msg);
  };
  const ropeParams = hf.rope_parameters ?? undefined;
  const scaling = hf.rope_scaling ?? ropeParams;
  const ropeType = scaling?.rope_type ?? scaling?.type;
  if (ropeType !== undefined && ropeType !== null && ropeType !== 'default') {
    fail(`rope scaling '${String(ropeType)}' is not supported (only unscaled rotary embeddings)`);
  }
  const act = hf.hidden_act ?? 'silu';
  if (act !== 'silu') fail(`hidden_act '${act}' is not supported (the MLP is SwiGLU with silu)`);
  if (hf.attention_bias === true) fail('attention_bias: true (biases on q/k/v/o projections) is not supported');
  if (hf.mlp_bias === true) fail('mlp_bias: true is not supported');

  const nHeads = hf.num_attention_heads;
  const nKvHeads = hf.num_key_value_heads ?? nHeads;
  let headDim = hf.head_dim ?? undefined;
  if (headDim === undefined) {
    if (hf.hidden_size % nHeads !== 0) fail(`hidden_size ${hf.hidden_size} is not divisible by num_attention_heads ${nHeads}; set head_dim`);
    headDim = hf.hidden_size / nHeads;
  }
  const ropeTheta = hf.rope_theta ?? (typeof ropeParams?.rope_theta === 'number' ? ropeParams.rope_theta : undefined) ?? 10000;
  const eos = hf.eos_token_id;

  return {
    family: 'llama',
    modelType: hf.model_type,
    dModel: hf.hidden_size,
    nLayers: hf.num_hidden_layers,
    nHeads,
    nKvHeads,
    headDim,
    dFF: hf.intermediate_size,
    vocabSize: hf.vocab_size,
    maxSeqLen: hf.max_position_embeddings,
    ropeTheta,
    ropeStyle: 'halves',
    rmsNormEps: hf.rms_norm_eps ?? 1e-6,
    // Settled once the weights are listed (a missing lm_head means tied).
    tiedEmbeddings: hf.tie_word_embeddings === true,
    qkvBias: hf.model_type === 'qwen2',
    bosTokenId: hf.bos_token_id ?? undefined,
    eosTokenIds: eos === undefined || eos === null ? undefined : Array.isArray(eos) ? [...eos] : [eos],
  };
}

export interface WeightFiles {
  /** Tensor name → absolute path of the safetensors file holding it. */
  byTensor: Map<string, string>;
  /** Every weights file, opened (headers parsed and validated). */
  files: Map<string, SafetensorsFile>;
  /** The file that lists the tensors (the single weights file or the index), for error messages. */
  describedBy: string;
}

/** `model.safetensors`, or the shards an index lists, opened and checked (headers only). */
export function locateWeights(dir: string): WeightFiles {
  const single = path.join(dir, SINGLE_WEIGHTS_FILE);
  // Like transformers, a single model.safetensors wins over an index.
  if (fs.existsSync(single)) {
    const st = openSafetensors(single);
    return { byTensor: new Map(st.names.map((n) => [n, single])), files: new Map([[single, st]]), describedBy: single };
  }
  const indexPath = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(indexPath)) {
    const bins = fs.readdirSync(dir).filter((f) => /\.(bin|pt|pth|gguf)$/.test(f));
    const hint = bins.length ? ` (found ${bins.join(', ')}: only safetensors weights are supported; convert them first)` : '';
    throw new CheckpointError(dir, `no weights: expected ${SINGLE_WEIGHTS_FILE} or ${INDEX_FILE}${hint}`);
  }
  const index = parseJson(indexPath, readBytes(indexPath, 'weights index'));
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new CheckpointError(indexPath, "field 'weight_map' (tensor name → shard file) is missing or not an object");
  }
  const byTensor = new Map<string, string>();
  const files = new Map<string, SafetensorsFile>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new CheckpointError(indexPath, `weight_map entry for ${name} must be a file name inside the folder, got ${JSON.stringify(shard)}`);
    }
    const file = path.join(dir, shard);
    let st = files.get(file);
    if (!st) {
      if (!fs.existsSync(file)) throw new CheckpointError(indexPath, `shard ${shard} (holding ${name}) is missing from the folder`);
      st = openSafetensors(file);
      files.set(file, st);
    }
    // An entry pointing at a shard that lacks the tensor is as broken as a missing shard.
    if (!st.header[name]) throw new CheckpointError(indexPath, `says ${name} is in ${shard}, but that file has no such tensor`);
    byTensor.set(name, file);
  }
  if (byTensor.size === 0) throw new CheckpointError(indexPath, 'weight_map is empty');
  return { byTensor, files, describedBy: indexPath };
}

