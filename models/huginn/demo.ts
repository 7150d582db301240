/**
 * A tiny huginn-shaped model written as a complete Hugging Face folder: huginn-0125's config keys,
 * tensor names, special tokens and chat format, with random weights and small dimensions (2
 * prelude, 4 core, 2 coda blocks by default). Tests check the graph against an independent
 * forward pass on it, and users can try every huginn feature (num_steps, the block map, caching
 * and editing core blocks of any recurrence) without the 7 GB download. It is untrained: its
 * generations are gibberish, but deterministic.
 *
 * Weights are a pure function of the options (integer PRNG, Box-Muller through V8's fdlibm
 * Math functions), so the same options give byte-identical files on any machine. Their scales are
 * chosen so that every part of the computation moves the outputs well above test tolerances
 * (projections 1/√fan_in, norm weights 1 ± 0.1, qk bias ±0.1), not huginn's own small init.
 *
 * The tokenizer is byte-level BPE with no merges: bytes are ids 0..255, then huginn's special
 * tokens in huginn's order (<|begin_text|> <|end_text|> <|begin_header|> <|end_header|>
 * <|end_turn|> <|pad|>), and the embedding is padded beyond them like the real 65536-row one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../safetensors';
import { HUGINN_SPECIAL_TOKENS } from './tokenizer';
import { byteLevelTokenizerJson, seededGaussian, writeJson } from '../synthetic';

export interface TinyHuginnOptions {
  seed?: number;
  dModel?: number;
  nHeads?: number;
  /** Width of each MLP half (intermediate_size). */
  dFF?: number;
  nPrelude?: number;
  nCore?: number;
  nCoda?: number;
  /** config mean_recurrence: the default num_steps. */
  meanRecurrence?: number;
  /** block_size: the context. */
  maxSeqLen?: number;
  qkBias?: boolean;
  /** tie_embeddings; untied writes lm_head.weight. */
  tied?: boolean;
  /** Adapter bias (`bias: true`). */
  adapterBias?: boolean;
  /** Write the persistent rotary buffer `freqs_cis` as save_pretrained does for the original. */
  withFreqsCis?: boolean;
  dtype?: 'F32' | 'F16' | 'BF16';
}

export const TINY_HUGINN_DEFAULTS: Readonly<Required<TinyHuginnOptions>> = Object.freeze({
  seed: 0,
  dModel: 64,
  nHeads: 4,
  dFF: 96,
  nPrelude: 2,
  nCore: 4,
  nCoda: 2,
  meanRecurrence: 32,
  maxSeqLen: 1024,
  qkBias: true,
  tied: true,
  adapterBias: false,
  withFreqsCis: true,
  dtype: 'F32',
});

/** Byte b is token b; the specials follow. */
export const TINY_HUGINN_SPECIAL_IDS = Object.freeze({ beginText: 256, endText: 257, beginHeader: 258, endHeader: 259, endTurn: 260, pad: 261 });
export const TINY_HUGINN_TOKENIZER_SIZE = 262;
/** Embedding rows (padded_vocab_size), a multiple of 16 beyond the tokenizer as the real model pads to 65536. */
export const TINY_HUGINN_VOCAB_SIZE = 272;

/**
 * huginn's chat format, written for LayerLab (same output as the model's own template): BOS, then
 * each turn `<|begin_header|>role<|end_header|>\n\n` + trimmed content + `<|end_turn|>`, and the
 * assistant role `Huginn` for the generation prompt.
 */
export const TINY_HUGINN_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|begin_header|>' + message['role'] + '<|end_header|>\\n\\n' + (message['content'] | trim) + '<|end_turn|>' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|begin_header|>Huginn<|end_header|>\\n\\n' }}{% endif %}";

export interface TinyHuginn {
  dir: string;
  options: Required<TinyHuginnOptions>;
  /** Tensors as generated (fp32), in file order; with F16/BF16 the file holds them rounded. */
  tensors: { name: string; shape: number[]; data: Float32Array }[];
}

function resolve(opts: TinyHuginnOptions): Required<TinyHuginnOptions> {
  const o: Required<TinyHuginnOptions> = { ...TINY_HUGINN_DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  for (const k of ['dModel', 'nHeads', 'dFF', 'nCore', 'meanRecurrence', 'maxSeqLen'] as const) {
    if (!Number.isInteger(o[k]) || o[k] <= 0) throw new RangeError(`tiny huginn ${k} must be a positive integer, got ${o[k]}`);
  }
  for (const k of ['nPrelude', 'nCoda', 'seed'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new RangeError(`tiny huginn ${k} must be a non-negative integer, got ${o[k]}`);
  }
  if (o.dModel % o.nHeads !== 0) throw new RangeError(`dModel ${o.dModel} must be a multiple of nHeads ${o.nHeads}`);
  if ((o.dModel / o.nHeads) % 2 !== 0) throw new RangeError(`head dim ${o.dModel / o.nHeads} must be even for rotary embeddings`);
  if (!['F32', 'F16', 'BF16'].includes(o.dtype)) throw new RangeError(`tiny huginn dtype must be F32, F16 or BF16, got ${o.dtype}`);
  return o;
}

/** The config.json of the tiny model: huginn-0125's keys, small values. */
export function tinyHuginnConfigJson(opts: TinyHuginnOptions = {}): Record<string, unknown> {
  const o = resolve(opts);
  const d = o.dModel;
  const depth = o.nPrelude + o.nCore * o.meanRecurrence + o.nCoda;
  const std = Math.sqrt(2 / (5 * d));
  return {
    architectures: ['RavenForCausalLM'],
    model_type: 'huginn_raven',
    architecture_class_name: 'RecurrentGPT',
    block_class_name: 'SandwichBlock',
    norm_class_name: 'RMSNorm_llama',
    mlp_class_name: 'GatedMLP',
    nonlin_name: 'SiLU',
    n_embd: d,
    n_heads: o.nHeads,
    num_key_value_heads: o.nHeads,
    head_dim: d / o.nHeads,
    n_layers: o.nPrelude + o.nCore + o.nCoda,
    n_layers_in_prelude: o.nPrelude,
    n_layers_in_recurrent_block: o.nCore,
    n_layers_in_coda: o.nCoda,
    mean_recurrence: o.meanRecurrence,
    mean_backprop_depth: 8,
    effective_expected_depth: depth,
    intermediate_size: o.dFF,
    vocab_size: TINY_HUGINN_VOCAB_SIZE,
    padded_vocab_size: TINY_HUGINN_VOCAB_SIZE,
    padding_multiple: 16,
    block_size: o.maxSeqLen,
    rope_base: 50000,
    norm_eps: 1e-6,
    qk_bias: o.qkBias,
    bias: o.adapterBias,
    tie_embeddings: o.tied,
    injection_type: 'linear',
    state_init: 'like-init',
    sampling_scheme: 'poisson-lognormal-filling',
    init_strategy: 'takase',
    init_orthogonal: false,
    init_values: { std, out_proj: std / Math.sqrt(2 * depth), embedding: std, embed_scale: Math.sqrt(d) },
    bos_token_id: TINY_HUGINN_SPECIAL_IDS.beginText,
    eos_token_id: TINY_HUGINN_SPECIAL_IDS.endText,
    pad_token_id: TINY_HUGINN_SPECIAL_IDS.pad,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[o.dtype],
  };
}

/** Weights in the checkpoint's names and order (see the file comment for the scales). */
export function generateTinyHuginnTensors(opts: TinyHuginnOptions = {}): TinyHuginn['tensors'] {
  const o = resolve(opts);
  const d = o.dModel;
  const hd = d / o.nHeads;
  const out: TinyHuginn['tensors'] = [];
  const normal = (name: string, shape: number[], std: number, mean = 0) => {
    const rng = seededGaussian(o.seed, name);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * rng();
    out.push({ name, shape, data });
  };
  // × embed_scale √d gives embeddings of std 1; the tied head then gives logits of std ≈ 1.
  normal('transformer.wte.weight', [TINY_HUGINN_VOCAB_SIZE, d], 1 / Math.sqrt(d));
  const block = (p: string) => {
    for (const n of [1, 2, 3, 4]) normal(`${p}norm_${n}.weight`, [d], 0.1, 1);
    normal(`${p}attn.Wqkv.weight`, [3 * d, d], 1 / Math.sqrt(d));
    if (o.qkBias) normal(`${p}attn.qk_bias`, [2, 1, o.nHeads, hd], 0.1);
    normal(`${p}attn.proj.weight`, [d, d], 1 / Math.sqrt(d));
    normal(`${p}mlp.fc.weight`, [2 * o.dFF, d], 1 / Math.sqrt(d));
    normal(`${p}mlp.proj.weight`, [d, o.dFF], 1 / Math.sqrt(o.dFF));
  };
  for (let i = 0; i < o.nPrelude; i++) block(`transformer.prelude.${i}.`);
  normal('transformer.adapter.weight', [d, 2 * d], 1 / Math.sqrt(2 * d));
  if (o.adapterBias) normal('transformer.adapter.bias', [d], 0.1);
  for (let i = 0; i < o.nCore; i++) block(`transformer.core_block.${i}.`);
  for (let i = 0; i < o.nCoda; i++) block(`transformer.coda.${i}.`);
  normal('transformer.ln_f.weight', [d], 0.1, 1);
  if (!o.tied) normal('lm_head.weight', [TINY_HUGINN_VOCAB_SIZE, d], 1 / Math.sqrt(d));
  if (o.withFreqsCis) out.push({ name: 'freqs_cis', shape: [1, o.maxSeqLen, 1, hd / 2, 2], data: rotaryTable(o.maxSeqLen, hd, 50000) });
  return out;
}

/** Writes config.json, model.safetensors, tokenizer files and generation_config.json into `dir`. */
export function writeTinyHuginn(dir: string, opts: TinyHuginnOptions = {}): TinyHuginn {
  const o = resolve(opts);
  const abs = path.resolve(dir);
  fs.mkdirSync(abs, { recursive: true });
  const tensors = generateTinyHuginnTensors(o);
  const file = path.join(abs, 'model.safetensors');
  writeSafetensors(file, tensors.map((t) => ({ ...t, dtype: o.dtype })), { format: 'pt' });
  writeJson(path.join(abs, 'config.json'), tinyHuginnConfigJson(o));
  writeJson(path.join(abs, 'generation_config.json'), {
    bos_token_id: TINY_HUGINN_SPECIAL_IDS.beginText,
    eos_token_id: TINY_HUGINN_SPECIAL_IDS.endText,
    pad_token_id: TINY_HUGINN_SPECIAL_IDS.pad,
  });
  writeJson(path.join(abs, 'tokenizer.json'), tinyHuginnTokenizerJson());
  writeJson(path.join(abs, 'tokenizer_config.json'), tinyHuginnTokenizerConfigJson(o.maxSeqLen));
  return { dir: abs, options: o, tensors };
}

/** [end, hd/2, 2] cos/sin of position × rope_base^(−2i/hd), as the original's buffer holds it. */
function rotaryTable(end: number, hd: number, base: number): Float32Array {
  const half = hd / 2;
  const out = new Float32Array(end * half * 2);
  for (let t = 0; t < end; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / Math.pow(base, (2 * i) / hd);
      out[(t * half + i) * 2] = Math.cos(angle);
      out[(t * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return out;
}

const SPECIALS: [string, number][] = [
  [HUGINN_SPECIAL_TOKENS.beginText, TINY_HUGINN_SPECIAL_IDS.beginText],
  [HUGINN_SPECIAL_TOKENS.endText, TINY_HUGINN_SPECIAL_IDS.endText],
  [HUGINN_SPECIAL_TOKENS.beginHeader, TINY_HUGINN_SPECIAL_IDS.beginHeader],
  [HUGINN_SPECIAL_TOKENS.endHeader, TINY_HUGINN_SPECIAL_IDS.endHeader],
  [HUGINN_SPECIAL_TOKENS.endTurn, TINY_HUGINN_SPECIAL_IDS.endTurn],
  [HUGINN_SPECIAL_TOKENS.pad, TINY_HUGINN_SPECIAL_IDS.pad],
];

export function tinyHuginnTokenizerJson(): Record<string, unknown> {
  return byteLevelTokenizerJson({ specials: SPECIALS, byteOffset: 0 });
}

export function tinyHuginnTokenizerConfigJson(maxSeqLen: number): Record<string, unknown> {
  const added: Record<string, unknown> = {};
  for (const [content, id] of SPECIALS) added[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  return {
    added_tokens_decoder: added,
    bos_token: HUGINN_SPECIAL_TOKENS.beginText,
    eos_token: HUGINN_SPECIAL_TOKENS.endText,
    pad_token: HUGINN_SPECIAL_TOKENS.pad,
    unk_token: null,
    chat_template: TINY_HUGINN_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_max_length: maxSeqLen,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
}
