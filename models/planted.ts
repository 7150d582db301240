/**
 * The planted model: a 3-block Llama whose weights are constructed, not trained, so that one
 * known unit vector `u` in the residual stream at one known block decides between two answers.
 * It is the ground truth that direction finding and interventions are checked against.
 *
 * How it works, on prompts holding one sign character ('+' or '-'), e.g. "Q: kalo + ribe\nA: ":
 *   embedding   every token carries a constant C on one axis (so RMSNorm scales stay fixed);
 *               '+' and '-' also carry "a sign is here" (P) and its value ±1 (F).
 *   block 0     one attention head attends from every position to the sign character (query
 *               from C, key from P) and copies F into axis S: the sign now sits at the last token.
 *   block 1     the PLANTED BLOCK: its MLP reads S, writes ALPHA·sign along u and erases S, so at
 *               blocks.1.hook_resid_post the sign is carried by u alone.
 *   block 2     its MLP reads u, erases it and writes the decision into axis D.
 *   lm_head     letter A scores +D − bias, letter B −D + bias: '+' prompts answer A, '-' answer B,
 *               and with u removed (D = 0) every prompt answers B.
 * Every MLP is linear (silu(z) − silu(−z) = z), so "erase" is exact up to the small change in the
 * RMSNorm scale. Finally the whole residual stream is turned by a seeded random rotation (norm
 * weights are all 1, which makes RMSNorm commute with it), so u is a generic unit vector, not an axis.
 *
 * Like the demo model, it is a pure function of its options (byte-identical files on any machine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_BOS_ID, DEMO_EOS_ID, DEMO_PAD_ID, DEMO_VOCAB_SIZE, demoTokenizerConfigJson, demoTokenizerJson } from './demo';
import { writeSafetensors, type SafetensorsTensorInput } from './safetensors';
import { seededGaussian, writeJson } from './synthetic';

export const PLANTED_D_MODEL = 16;
export const PLANTED_BLOCKS = 3;
/** The block whose output carries the sign along u, and only there. */
export const PLANTED_BLOCK = 1;
export const PLANTED_HOOK = `blocks.${PLANTED_BLOCK}.hook_resid_post`;
const HEADS = 4;
const HEAD_DIM = PLANTED_D_MODEL / HEADS;
const D_FF = 8;
/** Axes of the unrotated stream. */
const C = 0, P = 1, F = 2, S = 3, U = 4, D = 5;
const CONST = 8;
const ALPHA = 4;
const BETA = 2;
/** A huge base makes the slow rotary pair turn by < 1e-3 rad over the whole context: attention scores then ignore distance. */
const ROPE_THETA = 1e9;
const MAX_SEQ_LEN = 512;
const byteToken = (ch: string) => 3 + ch.charCodeAt(0);

export interface PlantedModel {
  dir: string;
  /** The planted unit vector (in the model's residual basis). */
  u: Float32Array;
  block: number;
  hook: string;
}

/** Row-major [rows, cols] matrix helpers. */
type Mat = { rows: number; cols: number; data: Float64Array };
const mat = (rows: number, cols: number): Mat => ({ rows, cols, data: new Float64Array(rows * cols) });
const set = (m: Mat, r: number, c: number, v: number) => (m.data[r * m.cols + c] = v);

function matmul(a: Mat, b: Mat): Mat {
  const out = mat(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) for (let k = 0; k < a.cols; k++) {
    const v = a.data[i * a.cols + k]!;
    if (v !== 0) for (let j = 0; j < b.cols; j++) out.data[i * b.cols + j] += v * b.data[k * b.cols + j]!;
  }
  return out;
}

function transpose(a: Mat): Mat {
  const out = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j * a.rows + i] = a.data[i * a.cols + j]!;
  return out;
}

/** A seeded random orthogonal matrix (Gram–Schmidt on Gaussian rows). */
function rotation(seed: number, n: number): Mat {
  const g = seededGaussian(seed, 'planted.rotation');
  const r = mat(n, n);
  for (let i = 0; i < n; i++) {
    const row = Float64Array.from({ length: n }, () => g());
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += row[k]! * r.data[j * n + k]!;
      for (let k = 0; k < n; k++) row[k] -= dot * r.data[j * n + k]!;
    }
    const norm = Math.hypot(...row);
    for (let k = 0; k < n; k++) r.data[i * n + k] = row[k]! / norm;
  }
  return r;
}

export function writePlantedModel(dir: string, opts: { seed?: number } = {}): PlantedModel {
  const seed = opts.seed ?? 0;
  const d = PLANTED_D_MODEL;
  // The rotation: a stream vector x (axis basis) becomes R·x.
  const R = rotation(seed, d);
  const Rt = transpose(R);
  const tensors: SafetensorsTensorInput[] = [];
  const push = (name: string, m: Mat) => tensors.push({ name, dtype: 'F32', shape: [m.rows, m.cols], data: Float32Array.from(m.data) });
  const ones = (name: string) => tensors.push({ name, dtype: 'F32', shape: [d], data: new Float32Array(d).fill(1) });
  // Readers of the stream (embedding rows, q/k/v/gate/up, lm_head: [out, d]) are multiplied by Rᵀ on the right;
  // writers ([d, in]: o_proj, down_proj) by R on the left.
  const reader = (m: Mat) => matmul(m, Rt);
  const writer = (m: Mat) => matmul(R, m);

  // RMSNorm of an ordinary token: rms = CONST/√d, so normalised C is √d. The gains below use that
  // value; the other axes change the rms by a few per cent, which only scales what is written.
  const hC = Math.sqrt(d);
  const rms = (extra: number) => Math.sqrt((CONST * CONST + extra) / d);

  const embed = mat(DEMO_VOCAB_SIZE, d);
  for (let t = 0; t < DEMO_VOCAB_SIZE; t++) set(embed, t, C, CONST);
  for (const [ch, sign] of [['+', 1], ['-', -1]] as const) {
    set(embed, byteToken(ch), P, 1);
    set(embed, byteToken(ch), F, sign);
  }
  push('model.embed_tokens.weight', reader(embed));

  const zeros = (r: number, c: number) => mat(r, c);
  for (let l = 0; l < PLANTED_BLOCKS; l++) {
    const p = `model.layers.${l}.`;
    const q = zeros(d, d), k = zeros(d, d), v = zeros(d, d), o = zeros(d, d);
    const gate = zeros(D_FF, d), up = zeros(D_FF, d), down = zeros(d, D_FF);
    if (l === 0) {
      // Head 0, slow rotary pair (dims 1 and 3 of the head): score = 20 at the sign, 0 elsewhere.
      const hP = 1 / rms(2); // normalised P at a sign token
      set(q, 1, C, 1);
      set(k, 1, P, (20 * Math.sqrt(HEAD_DIM)) / (hC * hP));
      set(v, 0, F, 1 / hP); // the value is the sign, ±1
      set(o, S, 0, 1);
    }
    // A linear MLP unit pair: out = (silu(g·h) − silu(−g·h))·(h_C) = g·h·h_C, written along `to`.
    const linear = (from: number, writes: [axis: number, gain: number][], rmsSq: number) => {
      set(gate, 0, from, 1);
      set(gate, 1, from, -1);
      set(up, 0, C, 1);
      set(up, 1, C, 1);
      // h_from·h_C = x_from·CONST/rms²: scale back to x_from.
      const back = rmsSq / CONST;
      for (const [axis, gain] of writes) {
        set(down, axis, 0, gain * back);
        set(down, axis, 1, -gain * back);
      }
    };
    if (l === PLANTED_BLOCK) linear(S, [[U, ALPHA], [S, -1]], rms(1) ** 2);
    if (l === 2) linear(U, [[D, BETA], [U, -1]], rms(ALPHA * ALPHA) ** 2);
    ones(`${p}input_layernorm.weight`);
    push(`${p}self_attn.q_proj.weight`, reader(q));
    push(`${p}self_attn.k_proj.weight`, reader(k));
    push(`${p}self_attn.v_proj.weight`, reader(v));
    push(`${p}self_attn.o_proj.weight`, writer(o));
    ones(`${p}post_attention_layernorm.weight`);
    push(`${p}mlp.gate_proj.weight`, reader(gate));
    push(`${p}mlp.up_proj.weight`, reader(up));
    push(`${p}mlp.down_proj.weight`, writer(down));
  }
  ones('model.norm.weight');
  // A wins when D > ALPHA·BETA/2: '+' prompts (D = +ALPHA·BETA) do, '-' prompts and prompts without u (D = 0) do not.
  const head = mat(DEMO_VOCAB_SIZE, d);
  const bias = (ALPHA * BETA) / 2 / CONST;
  set(head, byteToken('A'), D, 1);
  set(head, byteToken('A'), C, -bias);
  set(head, byteToken('B'), D, -1);
  set(head, byteToken('B'), C, bias);
  push('lm_head.weight', reader(head));

  const abs = path.resolve(dir);
  fs.mkdirSync(abs, { recursive: true });
  writeSafetensors(path.join(abs, 'model.safetensors'), tensors, { format: 'pt' });
  writeJson(path.join(abs, 'config.json'), {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: d, intermediate_size: D_FF, num_hidden_layers: PLANTED_BLOCKS,
    num_attention_heads: HEADS, num_key_value_heads: HEADS, head_dim: HEAD_DIM, vocab_size: DEMO_VOCAB_SIZE, max_position_embeddings: MAX_SEQ_LEN,
    hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: ROPE_THETA, rope_scaling: null, tie_word_embeddings: false,
    bos_token_id: DEMO_BOS_ID, eos_token_id: DEMO_EOS_ID, pad_token_id: DEMO_PAD_ID, attention_bias: false, mlp_bias: false, torch_dtype: 'float32',
  });
  writeJson(path.join(abs, 'tokenizer.json'), demoTokenizerJson());
  writeJson(path.join(abs, 'tokenizer_config.json'), demoTokenizerConfigJson(MAX_SEQ_LEN, { chatTemplate: null }));
  const u = new Float32Array(d);
  for (let i = 0; i < d; i++) u[i] = R.data[i * d + U]!;
  return { dir: abs, u, block: PLANTED_BLOCK, hook: PLANTED_HOOK };
}
