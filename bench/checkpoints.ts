/**
 * Real-shaped checkpoints with random weights, for memory and speed work: the config.json
 * dimensions of a released model, Hugging Face tensor names, bf16 safetensors shards with an
 * index — everything a real download has except trained weights (and a real tokenizer: the
 * byte-level one of the demo models, fewer tokens than the embedding has rows).
 *
 * The writer never holds the model in memory: each shard's header is computed from the tensor
 * list first, then every tensor is generated and written in chunks of CHUNK values, so writing
 * huginn-0125's 3.5 B parameters (7 GB) needs a few MB. Figures measured on these checkpoints are
 * speed and memory figures only; what the model says is noise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '../models/common/prng';
import { bytesToUnicode, writeJson } from '../models/synthetic';
import { demoTokenizerConfigJson, demoTokenizerJson, DEMO_BOS_ID, DEMO_EOS_ID, DEMO_PAD_ID } from '../models/demo';
import { tinyHuginnConfigJson, tinyHuginnTokenizerConfigJson, tinyHuginnTokenizerJson, TINY_HUGINN_SPECIAL_IDS } from '../models/huginn/demo';

/** Values generated and written at a time. */
const CHUNK = 1 << 20;
/** Shards of at most this many bytes, like `save_pretrained(max_shard_size="2GB")`. */
const DEFAULT_SHARD_BYTES = 2e9;

interface PlannedTensor {
  name: string;
  shape: number[];
  /** Values are uniform with this standard deviation around `mean`. */
  std: number;
  mean?: number;
}

/** Qwen2-0.5B's config.json dimensions (494 M parameters, tied embeddings). */
export const QWEN2_0_5B_DIMS = Object.freeze({
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 32768,
  rope_theta: 1000000,
  rms_norm_eps: 1e-6,
});

export type Qwen2Dims = { -readonly [K in keyof typeof QWEN2_0_5B_DIMS]: number };

/** huginn-0125's dimensions (3.565 B parameters): 2 prelude, 4 core, 2 coda sandwich blocks. */
export const HUGINN_0125_DIMS = Object.freeze({ dModel: 5280, nHeads: 55, dFF: 17920, vocab: 65536, nPrelude: 2, nCore: 4, nCoda: 2, maxSeqLen: 4096 });

export type HuginnDims = { -readonly [K in keyof typeof HUGINN_0125_DIMS]: number };

/**
 * A Qwen2-shaped Hugging Face folder (qwen2 model_type, q/k/v biases, tied embeddings) with
 * `dims` (default: Qwen2-0.5B's), bf16 shards. Returns the folder. Skips writing when the folder
 * already holds the same config (generation is deterministic in `seed`).
 */
export function writeQwen2Shaped(dir: string, dims: Partial<Qwen2Dims> = {}, opts: { seed?: number; shardBytes?: number } = {}): string {
  const c = { ...QWEN2_0_5B_DIMS, ...dims };
  const d = c.hidden_size;
  const hd = d / c.num_attention_heads;
  const q = c.num_attention_heads * hd;
  const kv = c.num_key_value_heads * hd;
  const resid = 1 / Math.sqrt(2 * c.num_hidden_layers);
  const config = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    ...c,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    use_sliding_window: false,
    sliding_window: c.max_position_embeddings,
    max_window_layers: c.num_hidden_layers,
    bos_token_id: DEMO_BOS_ID,
    eos_token_id: DEMO_EOS_ID,
    pad_token_id: DEMO_PAD_ID,
    torch_dtype: 'bfloat16',
  };
  const tensors: PlannedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, d], std: 1 / Math.sqrt(d) }];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      { name: `${p}input_layernorm.weight`, shape: [d], std: 0.02, mean: 1 },
      { name: `${p}self_attn.q_proj.weight`, shape: [q, d], std: 1 / Math.sqrt(d) },
      { name: `${p}self_attn.q_proj.bias`, shape: [q], std: 0.02 },
      { name: `${p}self_attn.k_proj.weight`, shape: [kv, d], std: 1 / Math.sqrt(d) },
      { name: `${p}self_attn.k_proj.bias`, shape: [kv], std: 0.02 },
      { name: `${p}self_attn.v_proj.weight`, shape: [kv, d], std: 1 / Math.sqrt(d) },
      { name: `${p}self_attn.v_proj.bias`, shape: [kv], std: 0.02 },
      { name: `${p}self_attn.o_proj.weight`, shape: [d, q], std: resid / Math.sqrt(q) },
      { name: `${p}post_attention_layernorm.weight`, shape: [d], std: 0.02, mean: 1 },
      { name: `${p}mlp.gate_proj.weight`, shape: [c.intermediate_size, d], std: 1 / Math.sqrt(d) },
      { name: `${p}mlp.up_proj.weight`, shape: [c.intermediate_size, d], std: 1 / Math.sqrt(d) },
      { name: `${p}mlp.down_proj.weight`, shape: [d, c.intermediate_size], std: resid / Math.sqrt(c.intermediate_size) },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [d], std: 0.02, mean: 1 });
  return writeFolder(dir, config, tensors, opts, () => {
    writeJson(path.join(dir, 'tokenizer.json'), fillVocab(demoTokenizerJson(), c.vocab_size));
    writeJson(path.join(dir, 'tokenizer_config.json'), demoTokenizerConfigJson(c.max_position_embeddings));
  });
}

/** A huginn_raven folder with `dims` (default: huginn-0125's), bf16 shards. */
export function writeHuginnShaped(dir: string, dims: Partial<HuginnDims> = {}, opts: { seed?: number; shardBytes?: number } = {}): string {
  const c = { ...HUGINN_0125_DIMS, ...dims };
  const d = c.dModel;
  const hd = d / c.nHeads;
  const config = {
    ...tinyHuginnConfigJson({ dModel: d, nHeads: c.nHeads, dFF: c.dFF, nPrelude: c.nPrelude, nCore: c.nCore, nCoda: c.nCoda, maxSeqLen: c.maxSeqLen, dtype: 'BF16' }),
    vocab_size: c.vocab,
    padded_vocab_size: c.vocab,
  };
  const tensors: PlannedTensor[] = [{ name: 'transformer.wte.weight', shape: [c.vocab, d], std: 1 / Math.sqrt(d) }];
  const block = (p: string) => {
    for (const n of [1, 2, 3, 4]) tensors.push({ name: `${p}norm_${n}.weight`, shape: [d], std: 0.1, mean: 1 });
    tensors.push(
      { name: `${p}attn.Wqkv.weight`, shape: [3 * d, d], std: 1 / Math.sqrt(d) },
      { name: `${p}attn.qk_bias`, shape: [2, 1, c.nHeads, hd], std: 0.1 },
      { name: `${p}attn.proj.weight`, shape: [d, d], std: 1 / Math.sqrt(d) },
      { name: `${p}mlp.fc.weight`, shape: [2 * c.dFF, d], std: 1 / Math.sqrt(d) },
      { name: `${p}mlp.proj.weight`, shape: [d, c.dFF], std: 1 / Math.sqrt(c.dFF) },
    );
  };
  for (let i = 0; i < c.nPrelude; i++) block(`transformer.prelude.${i}.`);
  tensors.push({ name: 'transformer.adapter.weight', shape: [d, 2 * d], std: 1 / Math.sqrt(2 * d) });
  for (let i = 0; i < c.nCore; i++) block(`transformer.core_block.${i}.`);
  for (let i = 0; i < c.nCoda; i++) block(`transformer.coda.${i}.`);
  tensors.push({ name: 'transformer.ln_f.weight', shape: [d], std: 0.1, mean: 1 });
  return writeFolder(dir, config, tensors, opts, () => {
    writeJson(path.join(dir, 'tokenizer.json'), fillVocab(tinyHuginnTokenizerJson(), c.vocab));
    writeJson(path.join(dir, 'tokenizer_config.json'), tinyHuginnTokenizerConfigJson(c.maxSeqLen));
    writeJson(path.join(dir, 'generation_config.json'), { bos_token_id: TINY_HUGINN_SPECIAL_IDS.beginText, eos_token_id: TINY_HUGINN_SPECIAL_IDS.endText });
  });
}

/**
 * The byte-level tokenizer with entries added up to `vocab` ids (two- and three-character strings
 * of the byte alphabet, reachable by no merge), so that every id a random model generates decodes.
 */
function fillVocab(tokenizer: Record<string, unknown>, vocab: number): Record<string, unknown> {
  const model = tokenizer.model as { vocab: Record<string, number> };
  const used = new Set(Object.values(model.vocab));
  const alphabet = bytesToUnicode();
  let k = 0;
  for (let id = 0; id < vocab; id++) {
    if (used.has(id)) continue;
    let piece: string;
    do {
      const n = k++;
      piece = n < 65536 ? alphabet[n >> 8] + alphabet[n & 255] : alphabet[(n >> 16) & 255] + alphabet[(n >> 8) & 255] + alphabet[n & 255];
    } while (piece in model.vocab);
    model.vocab[piece] = id;
  }
  return tokenizer;
}

/** Number of parameters a planned folder holds. */
export function parameterCount(dir: string): number {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number } };
  return index.metadata.total_size / 2;
}

function writeFolder(dir: string, config: Record<string, unknown>, tensors: PlannedTensor[], opts: { seed?: number; shardBytes?: number }, writeTokenizer: () => void): string {
  const abs = path.resolve(dir);
  const configText = JSON.stringify(config, null, 2) + '\n';
  const stamp = path.join(abs, '.complete');
  // The stamp is written last, so a generator killed halfway is redone, not reused.
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === configText + String(opts.seed ?? 0)) return abs;
  fs.rmSync(abs, { recursive: true, force: true });
  fs.mkdirSync(abs, { recursive: true });
  const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  const shards: PlannedTensor[][] = [[]];
  let inShard = 0;
  for (const t of tensors) {
    const bytes = 2 * numel(t.shape);
    if (inShard > 0 && inShard + bytes > shardBytes) {
      shards.push([]);
      inShard = 0;
    }
    shards[shards.length - 1].push(t);
    inShard += bytes;
  }
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((list, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    total += writeBf16Shard(path.join(abs, file), list, opts.seed ?? 0);
    for (const t of list) weightMap[t.name] = file;
  });
  writeJson(path.join(abs, 'model.safetensors.index.json'), { metadata: { total_size: total }, weight_map: weightMap });
  fs.writeFileSync(path.join(abs, 'config.json'), configText);
  writeTokenizer();
  fs.writeFileSync(stamp, configText + String(opts.seed ?? 0));
  return abs;
}

/** Writes one bf16 shard tensor by tensor, CHUNK values at a time; returns its data bytes. */
function writeBf16Shard(file: string, tensors: PlannedTensor[], seed: number): number {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    const bytes = 2 * numel(t.shape);
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, Buffer.from(json));
    const f32 = new Float32Array(CHUNK);
    const bits = new Uint32Array(f32.buffer);
    const out = new Uint16Array(CHUNK);
    for (const t of tensors) {
      const rand = mulberry32(nameSeed(seed, t.name));
      // Uniform on [−a, a] has standard deviation a/√3.
      const a = t.std * Math.sqrt(3);
      const mean = t.mean ?? 0;
      for (let left = numel(t.shape); left > 0; ) {
        const n = Math.min(CHUNK, left);
        for (let k = 0; k < n; k++) f32[k] = mean + a * (2 * rand() - 1);
        // fp32 → bf16, round to nearest even (no NaNs here).
        for (let k = 0; k < n; k++) out[k] = (bits[k] + 0x7fff + ((bits[k] >>> 16) & 1)) >>> 16;
        fs.writeSync(fd, new Uint8Array(out.buffer, 0, 2 * n));
        left -= n;
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return offset;
}

/** FNV-1a of the name mixed with the seed: one independent stream per tensor. */
function nameSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
