/**
 * A llama2.c checkpoint and tokenizer written as a Hugging Face folder (config.json,
 * model.safetensors, tokenizer.json, tokenizer_config.json), so a real small model can be used
 * where a Hugging Face layout is needed — in particular with a chat template: the thinking-model
 * template here wraps the assistant's turn in `<think>…</think>` and opens `<think>` in the
 * generation prompt, a small stand-in for a thinking model when none is available offline.
 *
 * Two conversions matter:
 *  - **Rotary pairs.** llama2.c rotates adjacent pairs (2i, 2i+1) of each head; Hugging Face's
 *    Llama rotates (i, i + head_dim/2). Permuting the rows of wq and wk within each head (even
 *    rows first, then odd rows) makes one the other — transformers' own conversion script does
 *    the same — so the folder computes the same logits (tested).
 *  - **Tokenizer.** A SentencePiece BPE vocabulary with scores becomes a BPE tokenizer.json with
 *    byte fallback: one merge per way of splitting each piece into two pieces, ranked by the
 *    merged piece's score (highest first), a `▁` prepended and spaces written as `▁` (the dummy
 *    prefix). Encoding then merges what run.c merges (tested on text with multi-byte characters).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors, type SafetensorsTensorInput } from '../safetensors';
import { writeJson } from '../synthetic';
import type { Tensor } from '../checkpoint';
import { findLlama2cTokenizer } from '../load';
import { readLlama2cCheckpoint } from './checkpoint';
import { readLlama2cTokenizer, type Llama2cTokenizer } from './tokenizer';

/**
 * The thinking chat template: `User: …` lines for user turns, and the assistant's answer wrapped in
 * `<think>…</think>`; the generation prompt opens `<think>` so the model starts by thinking.
 */
export const THINK_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{{ 'Assistant: <think>\\n' + message['content'] + '\\n</think>\\n' }}" +
  "{% elif message['role'] == 'system' %}{{ message['content'] + '\\n' }}{% else %}{{ 'User: ' + message['content'] + '\\n' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'Assistant: <think>\\n' }}{% endif %}";

const SPACE = '\u2581';

/** Rows of a [heads·hd, d] projection reordered within each head: even rows, then odd rows. */
export function adjacentToHalves(t: Tensor, nHeads: number): Tensor {
  const [rows, cols] = t.dims as [number, number];
  const hd = rows / nHeads;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < hd / 2; j++) {
      const base = h * hd;
      out.set(t.data.subarray((base + 2 * j) * cols, (base + 2 * j + 1) * cols), (base + j) * cols);
      out.set(t.data.subarray((base + 2 * j + 1) * cols, (base + 2 * j + 2) * cols), (base + hd / 2 + j) * cols);
    }
  }
  return { dims: [rows, cols], data: out };
}

/** The tokenizer as a Hugging Face tokenizer.json (see the module comment). */
export function llama2cTokenizerJson(tok: Llama2cTokenizer): Record<string, unknown> {
  const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');
  // Pieces are UTF-8 bytes; byte pieces (<0x..>) stay as written.
  const text = (id: number) => Buffer.from(tok.piece(id)).toString('utf8').replaceAll(' ', SPACE);
  const specials = ['<unk>', '<s>', '</s>'];
  const vocab: Record<string, number> = {};
  const ids = new Map<string, number>();
  for (let id = 0; id < tok.vocabSize; id++) {
    const t = id < 3 ? specials[id]! : text(id);
    if (!(t in vocab)) vocab[t] = id;
    if (!ids.has(t)) ids.set(t, id);
  }
  const merges: { pair: [string, string]; score: number; id: number }[] = [];
  for (const [piece, id] of ids) {
    if (id < 3 || /^<0x[0-9A-F]{2}>$/.test(latin1(tok.piece(id)))) continue;
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      if (ids.has(left) && ids.has(right)) merges.push({ pair: [left, right], score: tok.scores[id]!, id });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.id - b.id);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => m.pair),
    },
  };
}

export interface Llama2cToHfResult {
  dir: string;
  vocabSize: number;
  tensors: number;
  chatTemplate: boolean;
}

export function llama2cToHf(source: string, out: string, opts: { tokenizer?: string; thinkTemplate?: boolean; contextLength?: number } = {}): Llama2cToHfResult {
  const ckpt = readLlama2cCheckpoint(source);
  const c = ckpt.config;
  const tokFile = opts.tokenizer ?? findLlama2cTokenizer(source);
  const tok = readLlama2cTokenizer(tokFile, c.vocabSize);
  const dir = path.resolve(out);
  fs.mkdirSync(dir, { recursive: true });
  const w = ckpt.weights;
  const tensors: SafetensorsTensorInput[] = [];
  const put = (name: string, t: Tensor) => tensors.push({ name, dtype: 'F32', shape: t.dims, data: t.data });
  put('model.embed_tokens.weight', w.embed);
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    put(`${p}input_layernorm.weight`, l.attnNorm);
    put(`${p}self_attn.q_proj.weight`, adjacentToHalves(l.wq, c.nHeads));
    put(`${p}self_attn.k_proj.weight`, adjacentToHalves(l.wk, c.nKvHeads));
    put(`${p}self_attn.v_proj.weight`, l.wv);
    put(`${p}self_attn.o_proj.weight`, l.wo);
    put(`${p}post_attention_layernorm.weight`, l.ffnNorm);
    put(`${p}mlp.gate_proj.weight`, l.wGate);
    put(`${p}mlp.up_proj.weight`, l.wUp);
    put(`${p}mlp.down_proj.weight`, l.wDown);
  });
  put('model.norm.weight', w.finalNorm);
  if (!c.tiedEmbeddings) put('lm_head.weight', w.lmHead!);
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt', converted_from: path.basename(source) });
  writeJson(path.join(dir, 'config.json'), {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dModel,
    intermediate_size: c.dFF,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: opts.contextLength ?? c.maxSeqLen,
    hidden_act: 'silu',
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: c.tiedEmbeddings,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  });
  writeJson(path.join(dir, 'generation_config.json'), { bos_token_id: 1, eos_token_id: 2 });
  writeJson(path.join(dir, 'tokenizer.json'), llama2cTokenizerJson(tok));
  writeJson(path.join(dir, 'tokenizer_config.json'), {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
    model_max_length: opts.contextLength ?? c.maxSeqLen,
    tokenizer_class: 'LlamaTokenizerFast',
    ...(opts.thinkTemplate ? { chat_template: THINK_CHAT_TEMPLATE } : {}),
  });
  return { dir, vocabSize: c.vocabSize, tensors: tensors.length, chatTemplate: !!opts.thinkTemplate };
}
