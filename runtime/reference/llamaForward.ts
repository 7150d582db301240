/**
 * A plain TypeScript Llama forward pass: the oracle the ONNX graphs LayerLab builds are checked
 * against, by the tests and by `check-model` on the user's own checkpoint.
 *
 * Written from the math, not from any graph code (it imports no graph builder; the layering check
 * enforces it), and deliberately naive: no KV cache, no fusion, no batching. Every intermediate
 * vector is stored as float32 (as the real model computes it) while sums (dot products, norms,
 * softmax denominators) accumulate in float64, so it agrees with an fp32 implementation to roughly
 * 1e-5 relative. It runs block by block over the whole sequence and reads each block's weights
 * only while computing that block, so a checkpoint never has to fit in memory at once.
 *
 * Block l, position t:
 *   h   = x + Wo · Attn(RoPE(Wq·n + bq), RoPE(Wk·n + bk), Wv·n + bv),  n = RMSNorm(x; attnNorm)
 *   out = h + WDown · (silu(WGate·m) ⊙ (WUp·m)),                      m = RMSNorm(h; ffnNorm)
 * then logits = LMHead · RMSNorm(x_final; finalNorm), with LMHead = embed when tied.
 */
import { llamaCheckpointReader, type LlamaCheckpoint, type LlamaConfig, type LlamaTensorKey, type LlamaTensorReader, type RopeStyle, type Tensor } from '../../models/checkpoint';

export interface ReferenceForwardResult {
  /** residPre[l][t]: the residual stream entering block l at position t (length dModel). */
  residPre: Float32Array[][];
  /** residPost[l][t]: the residual stream leaving block l at position t (length dModel). */
  residPost: Float32Array[][];
  /** logits[t]: next-token logits after position t (length vocabSize); only the positions asked for. */
  logits: Float32Array[];
}

/**
 * An additive edit: `add` is added to the residual stream at `position` where it enters block
 * `block` (`pre`) or leaves it (`post`), before anything reads it (activation patching).
 */
export interface ReferenceEdit {
  block: number;
  kind: 'pre' | 'post';
  position: number;
  add: Float32Array;
}

export interface ReferenceOptions {
  /** Positions whose logits to compute (default every position): the head is the costliest step. */
  logitPositions?: number[];
  /** Called before each block with its index, e.g. to report progress or cancel (by throwing). */
  onBlock?: (block: number, of: number) => void;
  /** Additive edits of the residual stream (see ReferenceEdit). */
  edits?: readonly ReferenceEdit[];
}

/** Runs the whole sequence `ids` (position 0 first) through an in-memory checkpoint. */
export function referenceForward(ckpt: LlamaCheckpoint, ids: number[], opts: ReferenceOptions = {}): ReferenceForwardResult {
  return llamaReference(ckpt.config, llamaCheckpointReader(ckpt), ids, opts);
}

/** Runs `ids` through a checkpoint read one tensor at a time (see the file comment). */
export function llamaReference(c: LlamaConfig, read: LlamaTensorReader, ids: number[], opts: ReferenceOptions = {}): ReferenceForwardResult {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new RangeError(`token id ${id} outside [0, ${c.vocabSize})`);
  }

  // Token embeddings: row `id` of the [vocab, d] matrix.
  const embed = read('embed').data;
  let x: Float32Array[] = ids.map((id) => embed.slice(id * c.dModel, (id + 1) * c.dModel));

  const residPre: Float32Array[][] = [];
  const residPost: Float32Array[][] = [];
  const applyEdits = (block: number, kind: 'pre' | 'post') => {
    for (const e of opts.edits ?? []) if (e.block === block && e.kind === kind) x[e.position] = add(x[e.position]!, e.add);
  };
  for (let l = 0; l < c.nLayers; l++) {
    opts.onBlock?.(l, c.nLayers);
    applyEdits(l, 'pre');
    const t = (k: string) => read(`layers.${l}.${k}` as LlamaTensorKey);
    const layer = {
      attnNorm: t('attnNorm'),
      wq: t('wq'),
      wk: t('wk'),
      wv: t('wv'),
      ...(c.qkvBias ? { bq: t('bq'), bk: t('bk'), bv: t('bv') } : {}),
      wo: t('wo'),
      ffnNorm: t('ffnNorm'),
      wGate: t('wGate'),
      wUp: t('wUp'),
      wDown: t('wDown'),
    } as { attnNorm: Tensor; wq: Tensor; wk: Tensor; wv: Tensor; bq?: Tensor; bk?: Tensor; bv?: Tensor; wo: Tensor; ffnNorm: Tensor; wGate: Tensor; wUp: Tensor; wDown: Tensor };
    residPre.push(x.map((v) => v.slice()));

    // --- attention sub-block ---
    const normed = x.map((v) => rmsNorm(v, layer.attnNorm.data, c.rmsNormEps));
    const q = normed.map((v, t) => rope(linear(layer.wq, v, layer.bq), c.nHeads, c, t));
    const k = normed.map((v, t) => rope(linear(layer.wk, v, layer.bk), c.nKvHeads, c, t));
    const v = normed.map((n) => linear(layer.wv, n, layer.bv));
    const attnOut = causalAttention(q, k, v, c);
    const h = x.map((xt, t) => add(xt, linear(layer.wo, attnOut[t])));

    // --- feed-forward sub-block (SwiGLU) ---
    x = h.map((ht) => {
      const m = rmsNorm(ht, layer.ffnNorm.data, c.rmsNormEps);
      const gate = linear(layer.wGate, m);
      const up = linear(layer.wUp, m);
      const act = new Float32Array(c.dFF);
      for (let i = 0; i < c.dFF; i++) act[i] = silu(gate[i]) * up[i];
      return add(ht, linear(layer.wDown, act));
    });

    applyEdits(l, 'post');
    residPost.push(x.map((v) => v.slice()));
  }

  const finalNorm = read('finalNorm').data;
  const head = c.tiedEmbeddings ? read('embed') : read('lmHead');
  const positions = opts.logitPositions ?? ids.map((_, t) => t);
  const logits: Float32Array[] = [];
  for (const t of positions) logits[t] = headOf(head, finalNorm, c.rmsNormEps, x[t]!);
  return { residPre, residPost, logits };
}

/** Final norm and unembedding of one residual vector: the model's head, and the logit lens. */
export function referenceHead(ckpt: LlamaCheckpoint, residual: Float32Array): Float32Array {
  const { config: c, weights: w } = ckpt;
  const head = c.tiedEmbeddings ? w.embed : w.lmHead;
  if (!head) throw new Error('checkpoint has untied embeddings but no lmHead');
  return headOf(head, w.finalNorm.data, c.rmsNormEps, residual);
}

function headOf(head: Tensor, finalNorm: Float32Array, eps: number, residual: Float32Array): Float32Array {
  return linear(head, rmsNorm(residual, finalNorm, eps));
}

/**
 * Greedy decoding: appends the argmax token `nNew` times, recomputing the whole sequence each
 * step. Returns only the `nNew` generated ids (not the prompt). It never stops early at EOS,
 * so it always returns exactly `nNew` ids. Ties go to the lowest id, like run.c's argmax.
 */
export function referenceGreedy(ckpt: LlamaCheckpoint, promptIds: number[], nNew: number): number[] {
  if (promptIds.length === 0) throw new Error('referenceGreedy needs at least one prompt token (e.g. BOS)');
  const seq = [...promptIds];
  const generated: number[] = [];
  for (let step = 0; step < nNew; step++) {
    const { logits } = referenceForward(ckpt, seq, { logitPositions: [seq.length - 1] });
    const next = argmax(logits[logits.length - 1]);
    generated.push(next);
    seq.push(next);
  }
  return generated;
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** y = W·x (+ b) for W stored [out, in] row-major. */
function linear(W: Tensor, x: Float32Array, b?: Tensor): Float32Array {
  const [rows, cols] = W.dims;
  if (x.length !== cols) throw new Error(`linear: input length ${x.length} != weight columns ${cols}`);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const off = r * cols;
    for (let i = 0; i < cols; i++) s += W.data[off + i] * x[i];
    y[r] = b ? s + b.data[r] : s;
  }
  return y;
}

/** x * w / sqrt(mean(x^2) + eps). */
function rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * inv * weight[i];
  return y;
}

/**
 * Rotary position embedding at position `pos`, applied head by head to a vector holding
 * `nHeads` heads of `headDim`. Pair j (0 <= j < headDim/2) rotates by angle pos * theta^(-2j/headDim);
 * `adjacent` pairs dims (2j, 2j+1) (llama2.c / Meta), `halves` pairs (j, j + headDim/2)
 * (Hugging Face's rotate_half).
 */
function rope(vec: Float32Array, nHeads: number, c: LlamaConfig, pos: number): Float32Array {
  const hd = c.headDim;
  const out = new Float32Array(vec.length);
  for (let h = 0; h < nHeads; h++) {
    const base = h * hd;
    for (let j = 0; j < hd / 2; j++) {
      const angle = pos * Math.pow(c.ropeTheta, (-2 * j) / hd);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const [i0, i1] = ropePair(c.ropeStyle, base, j, hd);
      const a = vec[i0];
      const b = vec[i1];
      out[i0] = a * cos - b * sin;
      out[i1] = b * cos + a * sin;
    }
  }
  return out;
}

function ropePair(style: RopeStyle, base: number, j: number, hd: number): [number, number] {
  switch (style) {
    case 'adjacent':
      return [base + 2 * j, base + 2 * j + 1];
    case 'halves':
      return [base + j, base + j + hd / 2];
  }
}

/**
 * Causal multi-head attention with grouped-query sharing: query head h reads key/value head
 * floor(h / (nHeads / nKvHeads)). Scores are q·k / sqrt(headDim), softmax over positions <= t.
 */
function causalAttention(q: Float32Array[], k: Float32Array[], v: Float32Array[], c: LlamaConfig): Float32Array[] {
  const hd = c.headDim;
  const group = c.nHeads / c.nKvHeads;
  const scale = 1 / Math.sqrt(hd);
  return q.map((qt, t) => {
    const out = new Float32Array(c.nHeads * hd);
    for (let h = 0; h < c.nHeads; h++) {
      const qo = h * hd;
      const ko = Math.floor(h / group) * hd;
      const scores = new Float64Array(t + 1);
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += qt[qo + i] * k[s][ko + i];
        scores[s] = Math.fround(dot) * scale;
      }
      const weights = softmax(scores);
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) acc += weights[s] * v[s][ko + i];
        out[qo + i] = acc;
      }
    }
    return out;
  });
}

function softmax(x: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  const e = x.map((v) => Math.exp(v - max));
  let sum = 0;
  for (const v of e) sum += v;
  return e.map((v) => Math.fround(v / sum));
}

function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}
