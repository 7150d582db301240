/**
 * Reader for Hugging Face folders of huginn-0125 and other `model_type: huginn_raven` models
 * (Geiping et al., "Scaling up Test-Time Compute with Latent Reasoning: A Recurrent Depth
 * Approach", 2025): `config.json` plus `model.safetensors` or an index with shards, in fp32,
 * fp16 or bf16 (the released model is bf16).
 *
 * The architecture (raven_modeling_minimal.py): "sandwich" blocks
 *   x = norm_2(attn(norm_1(x)) + x);  x = norm_4(mlp(norm_3(x)) + x)
 * with a fused Wqkv projection, a learned bias on q and k (`qk_bias` [2, 1, heads, head_dim])
 * added before rotary embeddings that rotate adjacent pairs, and a gated MLP whose single `fc`
 * yields the two halves a | b of `proj(silu(a) * b)`. A prelude of blocks embeds the input, a core
 * of blocks is iterated `num_steps` times on a latent state injected with the prelude output by a
 * linear `adapter` over `concat[state, prelude_output]`, and a coda of blocks decodes.
 *
 * Like the Llama reader, config features the graph builder does not model are refused rather than
 * silently ignored (test-time noise, other block/norm/MLP classes, other injection types, grouped
 * KV heads), and so is any weight tensor the reader does not map.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { CheckpointError, checkFiniteWeights, type Tensor } from '../checkpoint';
import { hashFiles, type HashProgress } from '../fingerprint';
import { locateWeights, parseJson, readBytes, type WeightFiles } from '../hf/checkpoint';

export const HUGINN_MODEL_TYPE = 'huginn_raven';

export interface HuginnConfig {
  family: 'huginn';
  modelType: typeof HUGINN_MODEL_TYPE;
  dModel: number;
  nHeads: number;
  /** Always nHeads: huginn_raven uses full multi-head attention (the reader refuses others). */
  nKvHeads: number;
  headDim: number;
  /** Width of each half of the gated MLP (`intermediate_size`); `fc` outputs 2·dFF. */
  dFF: number;
  /** Rows of the embedding and the head (`padded_vocab_size`, else `vocab_size`). */
  vocabSize: number;
  /** `block_size`: the longest sequence the rotary table covers. */
  maxSeqLen: number;
  ropeTheta: number;
  ropeStyle: 'adjacent';
  rmsNormEps: number;
  nPrelude: number;
  nCore: number;
  nCoda: number;
  /** The recurrence the model was trained around (`mean_recurrence`, 32 for huginn-0125). */
  meanRecurrence: number;
  /** q/k carry the learned `qk_bias`. */
  qkBias: boolean;
  /** The adapter carries a bias (`bias: true`). */
  adapterBias: boolean;
  tiedEmbeddings: boolean;
  /** Token embeddings are multiplied by this (`init_values.embed_scale`, √n_embd). */
  embedScale: number;
  /** σ of the random initial state before the embedding scale (`init_values.std`, √(2/(5·n_embd))). */
  stateStd: number;
  bosTokenId?: number;
  eosTokenIds?: number[];
  padTokenId?: number;
}

/** One sandwich block, PyTorch layout ([out, in] matrices). */
export interface HuginnBlockWeights {
  norm1: Tensor; // [d]
  norm2: Tensor; // [d]
  norm3: Tensor; // [d]
  norm4: Tensor; // [d]
  /** Rows: q (nHeads·hd) | k (nKv·hd) | v (nKv·hd). */
  wqkv: Tensor; // [(H + 2·kv)·hd, d]
  /** [0] is added to q, [1] to k, per head and dimension, before RoPE. */
  qkBias?: Tensor; // [2, 1, H, hd]
  proj: Tensor; // [d, H·hd]
  /** Rows: a (dFF) | b (dFF); the MLP computes proj(silu(a) * b). */
  fc: Tensor; // [2·dFF, d]
  mlpProj: Tensor; // [d, dFF]
}

export interface HuginnWeights {
  embed: Tensor; // [vocab, d]
  prelude: HuginnBlockWeights[];
  /** Linear(2d → d) over concat[state, prelude_output]. */
  adapter: Tensor; // [d, 2d]
  adapterBias?: Tensor; // [d]
  core: HuginnBlockWeights[];
  coda: HuginnBlockWeights[];
  lnF: Tensor; // [d]
  /** Absent when tiedEmbeddings. */
  lmHead?: Tensor; // [vocab, d]
}

export interface HuginnCheckpoint {
  config: HuginnConfig;
  weights: HuginnWeights;
  source: string;
  contentHash: string;
}

export interface HuginnProbe {
  config: HuginnConfig;
  source: string;
  contentHash: string;
}

/** Reads one checkpoint tensor, by its Hugging Face name, as fp32 in PyTorch layout. */
export type HuginnTensorReader = (name: string) => Tensor;

export type HuginnPart = 'prelude' | 'core' | 'coda';
/** The module list each part lives in, in the checkpoint's names. */
export const HUGINN_PART_MODULE: Record<HuginnPart, string> = { prelude: 'prelude', core: 'core_block', coda: 'coda' };

const BLOCK_TENSORS: { key: keyof HuginnBlockWeights; suffix: string }[] = [
  { key: 'norm1', suffix: 'norm_1.weight' },
  { key: 'norm2', suffix: 'norm_2.weight' },
  { key: 'norm3', suffix: 'norm_3.weight' },
  { key: 'norm4', suffix: 'norm_4.weight' },
  { key: 'wqkv', suffix: 'attn.Wqkv.weight' },
  { key: 'qkBias', suffix: 'attn.qk_bias' },
  { key: 'proj', suffix: 'attn.proj.weight' },
  { key: 'fc', suffix: 'mlp.fc.weight' },
  { key: 'mlpProj', suffix: 'mlp.proj.weight' },
];

/** Prefix of block `i` of a part in the checkpoint, e.g. `transformer.core_block.2.`. */
export function huginnBlockPrefix(part: HuginnPart, i: number): string {
  return `transformer.${HUGINN_PART_MODULE[part]}.${i}.`;
}

export function huginnPartSize(c: HuginnConfig, part: HuginnPart): number {
  return part === 'prelude' ? c.nPrelude : part === 'core' ? c.nCore : c.nCoda;
}

/** Expected shape of each tensor of a block, keyed like HuginnBlockWeights. */
function blockShapes(c: HuginnConfig): Record<keyof HuginnBlockWeights, number[] | undefined> {
  const d = c.dModel;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  return {
    norm1: [d],
    norm2: [d],
    norm3: [d],
    norm4: [d],
    wqkv: [q + 2 * kv, d],
    qkBias: c.qkBias ? [2, 1, c.nHeads, c.headDim] : undefined,
    proj: [d, q],
    fc: [2 * c.dFF, d],
    mlpProj: [d, c.dFF],
  };
}

/**
 * Every tensor the model uses, with its checkpoint name and expected shape, in a fixed order.
 * The one table both the reader's validation and the weight writer go by.
 */
export function huginnTensorTable(c: HuginnConfig): { name: string; dims: number[] }[] {
  const d = c.dModel;
  const out: { name: string; dims: number[] }[] = [{ name: 'transformer.wte.weight', dims: [c.vocabSize, d] }];
  const shapes = blockShapes(c);
  const blocks = (part: HuginnPart) => {
    for (let i = 0; i < huginnPartSize(c, part); i++) {
      for (const { key, suffix } of BLOCK_TENSORS) {
        const dims = shapes[key];
        if (dims) out.push({ name: huginnBlockPrefix(part, i) + suffix, dims });
      }
    }
  };
  blocks('prelude');
  out.push({ name: 'transformer.adapter.weight', dims: [d, 2 * d] });
  if (c.adapterBias) out.push({ name: 'transformer.adapter.bias', dims: [d] });
  blocks('core');
  blocks('coda');
  out.push({ name: 'transformer.ln_f.weight', dims: [d] });
  if (!c.tiedEmbeddings) out.push({ name: 'lm_head.weight', dims: [c.vocabSize, d] });
  return out;
}

/** Number of parameters the model uses (the tied head counted once). */
export function huginnParameterCount(c: HuginnConfig): number {
  return huginnTensorTable(c).reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
}

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const tokenId = z.number().int().nonnegative();

/** The config.json fields the reader uses; unknown fields pass through untouched. */
const huginnConfigSchema = z
  .object({
    model_type: z.literal(HUGINN_MODEL_TYPE),
    n_embd: posInt,
    n_heads: posInt,
    num_key_value_heads: posInt.nullish(),
    head_dim: posInt.nullish(),
    n_layers_in_prelude: nonNegInt,
    n_layers_in_recurrent_block: posInt,
    n_layers_in_coda: nonNegInt,
    mean_recurrence: posInt.nullish(),
    intermediate_size: posInt,
    vocab_size: posInt,
    padded_vocab_size: posInt.nullish(),
    block_size: posInt.nullish(),
    rope_base: z.number().positive().nullish(),
    norm_eps: z.number().positive().nullish(),
    tie_embeddings: z.boolean().nullish(),
    tie_word_embeddings: z.boolean().nullish(),
    qk_bias: z.boolean().nullish(),
    bias: z.boolean().nullish(),
    injection_type: z.string().nullish(),
    test_time_noise: z.number().nullish(),
    block_class_name: z.string().nullish(),
    norm_class_name: z.string().nullish(),
    mlp_class_name: z.string().nullish(),
    nonlin_name: z.string().nullish(),
    init_values: z.object({ std: z.number().positive().nullish(), embed_scale: z.number().positive().nullish() }).passthrough().nullish(),
    bos_token_id: tokenId.nullish(),
    eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
    pad_token_id: tokenId.nullish(),
  })
  .passthrough();

type RawHuginnConfig = z.infer<typeof huginnConfigSchema>;

/** What each class-name field must say: the graph builder implements exactly these. */
const REQUIRED_CLASSES: [keyof RawHuginnConfig, string, string][] = [
  ['block_class_name', 'SandwichBlock', 'blocks'],
  ['norm_class_name', 'RMSNorm_llama', 'norms'],
  ['mlp_class_name', 'GatedMLP', 'MLPs'],
  ['nonlin_name', 'SiLU', 'MLP nonlinearities'],
];

/** Parses a huginn_raven config.json (already read) into the builder's config, refusing what it cannot build. */
export function parseHuginnConfig(configPath: string, bytes: Buffer): HuginnConfig {
  const raw = parseJson(configPath, bytes);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(configPath, 'must hold a JSON object');
  const modelType = (raw as Record<string, unknown>).model_type;
  if (modelType !== HUGINN_MODEL_TYPE) {
    throw new CheckpointError(configPath, `model_type is '${String(modelType)}', not '${HUGINN_MODEL_TYPE}'`);
  }
  const parsed = huginnConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const field = issue.path.join('.');
      const missing = issue.code === 'invalid_type' && issue.received === 'undefined';
      return missing ? `field '${field}' is missing` : `field '${field}': ${issue.message}`;
    });
    throw new CheckpointError(configPath, problems.join('; '));
  }
  const hf = parsed.data;
  const fail = (msg: string): never => {
    throw new CheckpointError(configPath, msg);
  };
  for (const [field, want, what] of REQUIRED_CLASSES) {
    const v = hf[field];
    if (v !== undefined && v !== null && v !== want) fail(`${field} '${String(v)}' is not supported (huginn_raven ${what} are ${want})`);
  }
  if (hf.injection_type != null && hf.injection_type !== 'linear') {
    fail(`injection_type '${hf.injection_type}' is not supported (only 'linear': the adapter over concat[state, prelude output])`);
  }
  // The original adds fresh random noise to the state at every recurrence when this is set:
  // nothing deterministic (or cacheable) can reproduce it.
  if (hf.test_time_noise != null && hf.test_time_noise !== 0) fail(`test_time_noise ${hf.test_time_noise} is not supported (only 0)`);
  const nHeads = hf.n_heads;
  if (hf.n_embd % nHeads !== 0) fail(`n_embd ${hf.n_embd} is not divisible by n_heads ${nHeads}`);
  const headDim = hf.n_embd / nHeads;
  if (hf.head_dim != null && hf.head_dim !== headDim) fail(`head_dim ${hf.head_dim} disagrees with n_embd / n_heads = ${headDim} (the model computes it as n_embd // n_heads)`);
  if (headDim % 2 !== 0) fail(`head dimension ${headDim} must be even for rotary embeddings`);
  // The original's qk_bias is [2, 1, n_heads, head_dim] and is added to k as well, which only
  // broadcasts with as many KV heads as query heads; huginn-0125 has 55 and 55.
  const nKvHeads = hf.num_key_value_heads ?? nHeads;
  if (nKvHeads !== nHeads) fail(`num_key_value_heads ${nKvHeads} differs from n_heads ${nHeads}; huginn_raven uses full multi-head attention`);
  const tied = hf.tie_embeddings ?? hf.tie_word_embeddings ?? true;
  const eos = hf.eos_token_id;
  return {
    family: 'huginn',
    modelType: HUGINN_MODEL_TYPE,
    dModel: hf.n_embd,
    nHeads,
    nKvHeads,
    headDim,
    dFF: hf.intermediate_size,
    // The embedding has padded_vocab_size rows (transformers sets it from the JSON after the
    // constructor copied vocab_size into it).
    vocabSize: hf.padded_vocab_size ?? hf.vocab_size,
    maxSeqLen: hf.block_size ?? 4096,
    ropeTheta: hf.rope_base ?? 50_000,
    ropeStyle: 'adjacent',
    rmsNormEps: hf.norm_eps ?? 1e-6,
    nPrelude: hf.n_layers_in_prelude,
    nCore: hf.n_layers_in_recurrent_block,
    nCoda: hf.n_layers_in_coda,
    meanRecurrence: hf.mean_recurrence ?? 32,
    qkBias: hf.qk_bias ?? true,
    adapterBias: hf.bias ?? false,
    // Settled once the weights are listed (a missing lm_head means tied).
    tiedEmbeddings: tied,
    embedScale: hf.init_values?.embed_scale ?? Math.sqrt(hf.n_embd),
    stateStd: hf.init_values?.std ?? Math.sqrt(2 / (5 * hf.n_embd)),
    bosTokenId: hf.bos_token_id ?? undefined,
    eosTokenIds: eos === undefined || eos === null ? undefined : Array.isArray(eos) ? [...eos] : [eos],
    padTokenId: hf.pad_token_id ?? undefined,
  };
}

/** Checkpoint tensors that are derived data, not parameters: recomputed, never read. */
function isDerivedTensor(name: string): boolean {
  // The rotary table [1, block_size, 1, head_dim/2, 2] is a persistent buffer in the original,
  // so save_pretrained writes it; LayerLab recomputes it from rope_base in fp32.
  return name === 'freqs_cis';
}

/** Config, weight files and a shape-checked tensor reader for a folder, reading no weights yet. */
function inspectHuginn(dir: string) {
  const source = path.resolve(dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    throw new CheckpointError(source, 'model folder not found');
  }
  if (!st.isDirectory()) throw new CheckpointError(source, 'is not a folder; point to the Hugging Face model folder that holds config.json');
  const configPath = path.join(source, 'config.json');
  const configBytes = readBytes(configPath, 'a Hugging Face model folder needs config.json');
  const config = parseHuginnConfig(configPath, configBytes);
  const weightFiles: WeightFiles = locateWeights(source);
  // As the original's tie_weights(): with tied embeddings the head *is* wte, and a stored
  // lm_head.weight (the tied copy save_pretrained may write) is not read.
  if (!weightFiles.byTensor.has('lm_head.weight')) config.tiedEmbeddings = true;

  const table = huginnTensorTable(config);
  const expected = new Map(table.map((t) => [t.name, t.dims]));
  // Refuse unknown tensors before reading gigabytes: ignoring weights would change the outputs.
  for (const [name, file] of weightFiles.byTensor) {
    if (expected.has(name) || isDerivedTensor(name)) continue;
    if (name === 'lm_head.weight' && config.tiedEmbeddings) continue;
    throw new CheckpointError(file, `unexpected tensor ${name}: the ${HUGINN_MODEL_TYPE} reader does not use it, and ignoring weights would change the model's outputs`);
  }
  for (const { name, dims } of table) {
    const file = weightFiles.byTensor.get(name);
    if (!file) throw new CheckpointError(weightFiles.describedBy, `missing tensor ${name}`);
    const info = weightFiles.files.get(file)!.header[name];
    if (info.shape.length !== dims.length || info.shape.some((n, i) => n !== dims[i])) {
      throw new CheckpointError(file, `tensor ${name} has shape [${info.shape.join(', ')}], but config.json implies [${dims.join(', ')}]`);
    }
  }
  const read: HuginnTensorReader = (name) => {
    const file = weightFiles.byTensor.get(name);
    if (!file || !expected.has(name)) throw new Error(`huginn reader: ${name} is not a tensor of this model`);
    const t = weightFiles.files.get(file)!.read(name);
    checkFiniteWeights(file, name, t.data, t.dims);
    return t;
  };
  const contentHash = (onProgress?: HashProgress) => hashFiles(configBytes, [...weightFiles.files.keys()].sort(), onProgress);
  return { source, config, contentHash, read };
}

/** Config and content hash of a huginn_raven folder, from JSON and safetensors headers only. */
export function probeHuginnCheckpoint(dir: string, onProgress?: HashProgress): HuginnProbe {
  const { source, config, contentHash } = inspectHuginn(dir);
  return { config, source, contentHash: contentHash(onProgress) };
}

/**
 * A reader that converts one tensor at a time (fp16/bf16 → fp32) when asked, so that writing
 * the graph's weights never holds more than one tensor of a 3.5B-parameter model in memory.
 */
export function huginnFolderReader(dir: string): HuginnTensorReader {
  return inspectHuginn(dir).read;
}

/** Reads a whole huginn_raven folder into memory (fp32). */
export function readHuginnCheckpoint(dir: string): HuginnCheckpoint {
  const { source, config, contentHash, read } = inspectHuginn(dir);
  const ckpt: HuginnCheckpoint = { config, weights: assembleHuginnWeights(config, read), source, contentHash: contentHash() };
  validateHuginnCheckpoint(ckpt);
  return ckpt;
}

/** The structured weights from a name-based reader. */
export function assembleHuginnWeights(c: HuginnConfig, read: HuginnTensorReader): HuginnWeights {
  const shapes = blockShapes(c);
  const blocks = (part: HuginnPart) =>
    Array.from({ length: huginnPartSize(c, part) }, (_, i) => {
      const b: Partial<HuginnBlockWeights> = {};
      for (const { key, suffix } of BLOCK_TENSORS) if (shapes[key]) b[key] = read(huginnBlockPrefix(part, i) + suffix);
      return b as HuginnBlockWeights;
    });
  return {
    embed: read('transformer.wte.weight'),
    prelude: blocks('prelude'),
    adapter: read('transformer.adapter.weight'),
    ...(c.adapterBias ? { adapterBias: read('transformer.adapter.bias') } : {}),
    core: blocks('core'),
    coda: blocks('coda'),
    lnF: read('transformer.ln_f.weight'),
    ...(c.tiedEmbeddings ? {} : { lmHead: read('lm_head.weight') }),
  };
}

/** The name-based view of in-memory weights (the inverse of assembleHuginnWeights). */
export function huginnCheckpointReader(ckpt: HuginnCheckpoint): HuginnTensorReader {
  const w = ckpt.weights;
  const byName = new Map<string, Tensor | undefined>([
    ['transformer.wte.weight', w.embed],
    ['transformer.adapter.weight', w.adapter],
    ['transformer.adapter.bias', w.adapterBias],
    ['transformer.ln_f.weight', w.lnF],
    ['lm_head.weight', w.lmHead],
  ]);
  for (const part of ['prelude', 'core', 'coda'] as const) {
    w[part].forEach((b, i) => {
      for (const { key, suffix } of BLOCK_TENSORS) byName.set(huginnBlockPrefix(part, i) + suffix, b[key]);
    });
  }
  return (name) => {
    const t = byName.get(name);
    if (!t) throw new CheckpointError(ckpt.source, `missing tensor ${name}`);
    return t;
  };
}

/** Checks every tensor's shape against the config, so the builder never sees an inconsistent checkpoint. */
export function validateHuginnCheckpoint(ckpt: HuginnCheckpoint): void {
  const c = ckpt.config;
  const w = ckpt.weights;
  for (const [part, n] of [['prelude', c.nPrelude], ['core', c.nCore], ['coda', c.nCoda]] as const) {
    if (w[part].length !== n) throw new CheckpointError(ckpt.source, `has ${w[part].length} ${part} blocks, config says ${n}`);
  }
  const read = huginnCheckpointReader(ckpt);
  for (const { name, dims } of huginnTensorTable(c)) {
    const t = read(name);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw new CheckpointError(ckpt.source, `tensor ${name} has shape [${t.dims.join(', ')}], expected [${dims.join(', ')}] from the config`);
    }
    const n = dims.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new CheckpointError(ckpt.source, `tensor ${name} holds ${t.data.length} values, expected ${n}`);
  }
}

/** True when `dir/config.json` says huginn_raven; false for any other or unreadable config. */
export function isHuginnFolder(dir: string): boolean {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { model_type?: unknown };
    return raw?.model_type === HUGINN_MODEL_TYPE;
  } catch {
    return false;
  }
}
