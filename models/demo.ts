/**
 * The built-in demo model: a tiny, randomly initialised Llama (or Qwen2-style) model written as a
 * complete Hugging Face folder, so every LayerLab feature can be tried, and tested, without a
 * download. It is untrained: its generations are gibberish, but deterministic.
 *
 * Everything is a pure function of the options: the same options give byte-identical files on any
 * machine (the PRNG is integer arithmetic; Box-Muller uses V8's fdlibm-based Math.log/cos, which
 * do not depend on the platform's libm).
 *
 * The tokenizer is byte-level BPE with no merges: three specials, then one token per byte, so any
 * UTF-8 text round-trips through encode/decode.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors, type SafetensorsTensorInput } from './safetensors';
import { byteLevelTokenizerJson, seededGaussian, writeJson } from './synthetic';

export interface DemoModelOptions {
  seed?: number;
  dModel?: number;
  nLayers?: number;
  nHeads?: number;
  nKvHeads?: number;
  dFF?: number;
  maxSeqLen?: number;
  /** 'qwen2' adds q/k/v biases, like Qwen2. */
  modelType?: 'llama' | 'qwen2';
  /** lm_head shares the embedding (no lm_head tensor is written). */
  tied?: boolean;
  /** Storage dtype of the weights file. */
  dtype?: 'F32' | 'F16';
}

export const DEMO_MODEL_DEFAULTS: Readonly<Required<DemoModelOptions>> = Object.freeze({
  seed: 0,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  dFF: 128,
  maxSeqLen: 4096,
  modelType: 'llama',
  tied: true,
  dtype: 'F32',
});

export const DEMO_SPECIAL_TOKENS = Object.freeze({ pad: '<|pad|>', bos: '<|bos|>', eos: '<|eos|>' });
export const DEMO_PAD_ID = 0;
export const DEMO_BOS_ID = 1;
export const DEMO_EOS_ID = 2;
/** Byte b is token DEMO_BYTE_OFFSET + b. */
export const DEMO_BYTE_OFFSET = 3;
export const DEMO_VOCAB_SIZE = DEMO_BYTE_OFFSET + 256;

/** One role per line, then the prompt for the assistant's turn. */
export const DEMO_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}";

export interface DemoModel {
  /** Absolute path of the folder written. */
  dir: string;
  options: Required<DemoModelOptions>;
  /** The tensors as generated (fp32), in file order; with dtype F16 the file holds them rounded. */
  tensors: SafetensorsTensorInput[];
}

/** Writes config.json, model.safetensors, tokenizer files and generation_config.json into `dir`. */
export function writeDemoModel(dir: string, opts: DemoModelOptions = {}): DemoModel {
  const o = resolveOptions(opts);
  const abs = path.resolve(dir);
  fs.mkdirSync(abs, { recursive: true });
  const tensors = generateDemoTensors(o);
  writeSafetensors(path.join(abs, 'model.safetensors'), tensors, { format: 'pt' });
  writeJson(path.join(abs, 'config.json'), demoConfigJson(o));
  writeJson(path.join(abs, 'generation_config.json'), {
    bos_token_id: DEMO_BOS_ID,
    eos_token_id: DEMO_EOS_ID,
    pad_token_id: DEMO_PAD_ID,
  });
  writeJson(path.join(abs, 'tokenizer.json'), demoTokenizerJson());
  writeJson(path.join(abs, 'tokenizer_config.json'), demoTokenizerConfigJson(o.maxSeqLen));
  return { dir: abs, options: o, tensors };
}

function resolveOptions(opts: DemoModelOptions): Required<DemoModelOptions> {
  const o: Required<DemoModelOptions> = { ...DEMO_MODEL_DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  for (const k of ['dModel', 'nLayers', 'nHeads', 'nKvHeads', 'dFF', 'maxSeqLen'] as const) {
    if (!Number.isInteger(o[k]) || o[k] <= 0) throw new RangeError(`demo model ${k} must be a positive integer, got ${o[k]}`);
  }
  if (!Number.isInteger(o.seed)) throw new RangeError(`demo model seed must be an integer, got ${o.seed}`);
  if (o.dModel % o.nHeads !== 0) throw new RangeError(`dModel ${o.dModel} must be a multiple of nHeads ${o.nHeads}`);
  if (o.nHeads % o.nKvHeads !== 0) throw new RangeError(`nHeads ${o.nHeads} must be a multiple of nKvHeads ${o.nKvHeads}`);
  if ((o.dModel / o.nHeads) % 2 !== 0) throw new RangeError(`head dim ${o.dModel / o.nHeads} must be even for rotary embeddings`);
  if (o.modelType !== 'llama' && o.modelType !== 'qwen2') throw new RangeError(`demo modelType must be llama or qwen2`);
  if (o.dtype !== 'F32' && o.dtype !== 'F16') throw new RangeError(`demo dtype must be F32 or F16`);
  return o;
}

function demoConfigJson(o: Required<DemoModelOptions>): Record<string, unknown> {
  const common = {
    hidden_size: o.dModel,
    intermediate_size: o.dFF,
    num_hidden_layers: o.nLayers,
    num_attention_heads: o.nHeads,
    num_key_value_heads: o.nKvHeads,
    head_dim: o.dModel / o.nHeads,
    vocab_size: DEMO_VOCAB_SIZE,
    max_position_embeddings: o.maxSeqLen,
    hidden_act: 'silu',
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    tie_word_embeddings: o.tied,
    bos_token_id: DEMO_BOS_ID,
    eos_token_id: DEMO_EOS_ID,
    pad_token_id: DEMO_PAD_ID,
    initializer_range: 0.02,
    attention_dropout: 0,
    torch_dtype: o.dtype === 'F16' ? 'float16' : 'float32',
  };
  // Fields transformers expects of each architecture, so the folder also loads in Python.
  return o.modelType === 'qwen2'
    ? { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', ...common, use_sliding_window: false, sliding_window: o.maxSeqLen, max_window_layers: o.nLayers }
    : { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...common, attention_bias: false, mlp_bias: false };
}

/**
 * Weights in Hugging Face names and file order. Scales keep activations O(1) at any size:
 * projections reading an RMS-normalised input get std 1/sqrt(fan_in); the two projections writing
 * into the residual stream (o_proj, down_proj) are further scaled by 1/sqrt(2·nLayers), as in
 * GPT-2, so the stream does not grow with depth; embeddings and lm_head use 1/sqrt(dModel) so
 * logits have std about 1; norm weights are 1 + N(0, 0.02²) and biases N(0, 0.02²).
 * Each tensor draws from its own stream seeded by (seed, name), so changing one option (e.g.
 * `tied`) leaves every other tensor unchanged.
 */
export function generateDemoTensors(opts: DemoModelOptions = {}): SafetensorsTensorInput[] {
  const o = resolveOptions(opts);
  const d = o.dModel;
  const headDim = d / o.nHeads;
  const q = o.nHeads * headDim;
  const kv = o.nKvHeads * headDim;
  const resid = 1 / Math.sqrt(2 * o.nLayers);
  const out: SafetensorsTensorInput[] = [];
  const normal = (name: string, shape: number[], std: number, mean = 0) => {
    const rng = seededGaussian(o.seed, name);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * rng();
    out.push({ name, dtype: o.dtype, shape, data });
  };
  normal('model.embed_tokens.weight', [DEMO_VOCAB_SIZE, d], 1 / Math.sqrt(d));
  for (let l = 0; l < o.nLayers; l++) {
    const p = `model.layers.${l}.`;
    normal(`${p}input_layernorm.weight`, [d], 0.02, 1);
    normal(`${p}self_attn.q_proj.weight`, [q, d], 1 / Math.sqrt(d));
    normal(`${p}self_attn.k_proj.weight`, [kv, d], 1 / Math.sqrt(d));
    normal(`${p}self_attn.v_proj.weight`, [kv, d], 1 / Math.sqrt(d));
    if (o.modelType === 'qwen2') {
      normal(`${p}self_attn.q_proj.bias`, [q], 0.02);
      normal(`${p}self_attn.k_proj.bias`, [kv], 0.02);
      normal(`${p}self_attn.v_proj.bias`, [kv], 0.02);
    }
    normal(`${p}self_attn.o_proj.weight`, [d, q], resid / Math.sqrt(q));
    normal(`${p}post_attention_layernorm.weight`, [d], 0.02, 1);
    normal(`${p}mlp.gate_proj.weight`, [o.dFF, d], 1 / Math.sqrt(d));
    normal(`${p}mlp.up_proj.weight`, [o.dFF, d], 1 / Math.sqrt(d));
    normal(`${p}mlp.down_proj.weight`, [d, o.dFF], resid / Math.sqrt(o.dFF));
  }
  normal('model.norm.weight', [d], 0.02, 1);
  if (!o.tied) normal('lm_head.weight', [DEMO_VOCAB_SIZE, d], 1 / Math.sqrt(d));
  return out;
}

/** The demo tokenizer: pad, bos, eos, then one token per byte (also the organism's and planted model's). */
export function demoTokenizerJson(): Record<string, unknown> {
  const bos = DEMO_SPECIAL_TOKENS.bos;
  return byteLevelTokenizerJson({
    specials: [DEMO_SPECIAL_TOKENS.pad, DEMO_SPECIAL_TOKENS.bos, DEMO_SPECIAL_TOKENS.eos].map((c, id): [string, number] => [c, id]),
    byteOffset: DEMO_BYTE_OFFSET,
    // Like Llama's tokenizer.json: HF's `tokenizer(text)` adds BOS. LayerLab's loader encodes
    // without the post-processor and prepends BOS itself when asked.
    postProcessor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [DEMO_BOS_ID], tokens: [bos] } },
    },
  });
}

/** tokenizer_config.json of the demo tokenizer; `chatTemplate: null` leaves the chat template out (a base model). */
export function demoTokenizerConfigJson(maxSeqLen: number, o: { chatTemplate?: string | null } = {}): Record<string, unknown> {
  const added: Record<string, unknown> = {};
  [DEMO_SPECIAL_TOKENS.pad, DEMO_SPECIAL_TOKENS.bos, DEMO_SPECIAL_TOKENS.eos].forEach((content, id) => {
    added[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  });
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: added,
    bos_token: DEMO_SPECIAL_TOKENS.bos,
    eos_token: DEMO_SPECIAL_TOKENS.eos,
    pad_token: DEMO_SPECIAL_TOKENS.pad,
    unk_token: null,
    ...(o.chatTemplate === null ? {} : { chat_template: o.chatTemplate ?? DEMO_CHAT_TEMPLATE }),
    // Byte-level text needs no cleanup, and cleanup would break exact round trips (" ." → ".").
    clean_up_tokenization_spaces: false,
    model_max_length: maxSeqLen,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
}
