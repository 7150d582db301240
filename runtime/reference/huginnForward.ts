/**
 * A plain TypeScript forward pass of a huginn_raven (recurrent-depth) model: the oracle for the
 * unrolled ONNX graph (tests and `check-model`). Written from the architecture's equations, not
 * from any graph code, and deliberately naive: no KV cache, no batching, the core blocks' weights
 * simply reused on every recurrence. Intermediate vectors are float32, sums (dot products, norms,
 * softmax denominators) accumulate in float64. Each block's weights are read when the block runs
 * (a core block once per recurrence), so the checkpoint never has to fit in memory at once.
 *
 *   e   = prelude(embed[id] · embed_scale)
 *   s₀  = 0, or row t of the seeded truncated-normal table · σ · embed_scale
 *   s_{r+1} = core(A · concat[s_r, e] (+ bias))                       r = 0..num_steps−1
 *   y   = coda(RMSNorm(s_N; ln_f));  logits = Head · RMSNorm(y; ln_f)
 * Sandwich block at position t:
 *   h   = RMSNorm(x + P·Attn(q, k, v); n2),  n = RMSNorm(x; n1),
 *         [q | k | v] = Wqkv·n, q += qk_bias[0], k += qk_bias[1] per head, then RoPE on q and k
 *         rotating pairs (2i, 2i+1) by t·base^(−2i/hd)
 *   out = RMSNorm(h + Mp·(silu(a) ⊙ b); n4),  [a | b] = Fc·RMSNorm(h; n3)
 * Unrolled block l (prelude, then core block j of recurrence r at P + n·r + j, then coda) records
 * residPre[l] = its input and residPost[l] = its output.
 */
import { huginnBlockPrefix, huginnCheckpointReader, type HuginnBlockWeights, type HuginnCheckpoint, type HuginnConfig, type HuginnPart, type HuginnTensorReader } from '../../models/huginn/checkpoint';
import type { Tensor } from '../../models/checkpoint';
import { truncatedNormalRow } from '../../models/huginn/stateInit';

export interface HuginnReferenceOptions {
  numSteps: number;
  /** Default zeros. */
  stateInit?: 'zeros' | 'random';
  stateSeed?: number;
  /** Positions whose logits to compute (default every position). */
  logitPositions?: number[];
  /** Called before each unrolled block with its index, e.g. to report progress or cancel (by throwing). */
  onBlock?: (block: number, of: number) => void;
}

export interface HuginnReferenceResult {
  /** residPre[l][t], residPost[l][t] over the unrolled depth (length dModel). */
  residPre: Float32Array[][];
  residPost: Float32Array[][];
  /** logits[t] (length vocabSize). */
  logits: Float32Array[];
}

export function huginnReferenceForward(ckpt: HuginnCheckpoint, ids: number[], opts: HuginnReferenceOptions): HuginnReferenceResult {
  return huginnReference(ckpt.config, huginnCheckpointReader(ckpt), ids, opts);
}

/** Runs `ids` through a checkpoint read one tensor at a time (see the file comment). */
export function huginnReference(c: HuginnConfig, read: HuginnTensorReader, ids: number[], opts: HuginnReferenceOptions): HuginnReferenceResult {
  const d = c.dModel;
  for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new RangeError(`token id ${id} outside [0, ${c.vocabSize})`);
  const nBlocks = c.nPrelude + c.nCore * opts.numSteps + c.nCoda;
  const residPre: Float32Array[][] = [];
  const residPost: Float32Array[][] = [];
  const runBlock = (part: HuginnPart, i: number, x: Float32Array[]): Float32Array[] => {
    opts.onBlock?.(residPre.length, nBlocks);
    residPre.push(x.map((v) => v.slice()));
    const out = sandwich(c, blockWeights(c, read, part, i), x);
    residPost.push(out.map((v) => v.slice()));
    return out;
  };

  const embed = read('transformer.wte.weight').data;
  let x: Float32Array[] = ids.map((id) => {
    const v = new Float32Array(d);
    for (let j = 0; j < d; j++) v[j] = embed[id * d + j] * c.embedScale;
    return v;
  });
  for (let i = 0; i < c.nPrelude; i++) x = runBlock('prelude', i, x);
  const e = x;

  let s: Float32Array[] = ids.map((_, t) => {
    if ((opts.stateInit ?? 'zeros') === 'zeros') return new Float32Array(d);
    const z = truncatedNormalRow(opts.stateSeed ?? 0, t, d);
    return Float32Array.from(z, (v) => v * c.stateStd * c.embedScale);
  });
  const adapter = read('transformer.adapter.weight');
  const adapterBias = c.adapterBias ? read('transformer.adapter.bias').data : undefined;
  for (let r = 0; r < opts.numSteps; r++) {
    s = s.map((st, t) => {
      const cat = new Float32Array(2 * d);
      cat.set(st, 0);
      cat.set(e[t], d);
      return matVec(adapter, cat, adapterBias);
    });
    for (let j = 0; j < c.nCore; j++) s = runBlock('core', j, s);
  }
  const lnF = read('transformer.ln_f.weight').data;
  let y = s.map((v) => rmsNorm(v, lnF, c.rmsNormEps));
  for (let i = 0; i < c.nCoda; i++) y = runBlock('coda', i, y);
  const head = c.tiedEmbeddings ? read('transformer.wte.weight') : read('lm_head.weight');
  const logits: Float32Array[] = [];
  for (const t of opts.logitPositions ?? ids.map((_, k) => k)) logits[t] = matVec(head, rmsNorm(y[t], lnF, c.rmsNormEps));
  return { residPre, residPost, logits };
}

/** One sandwich block's weights, read now. */
function blockWeights(c: HuginnConfig, read: HuginnTensorReader, part: HuginnPart, i: number): HuginnBlockWeights {
  const p = huginnBlockPrefix(part, i);
  return {
    norm1: read(`${p}norm_1.weight`),
    norm2: read(`${p}norm_2.weight`),
    norm3: read(`${p}norm_3.weight`),
    norm4: read(`${p}norm_4.weight`),
    wqkv: read(`${p}attn.Wqkv.weight`),
    ...(c.qkBias ? { qkBias: read(`${p}attn.qk_bias`) } : {}),
    proj: read(`${p}attn.proj.weight`),
    fc: read(`${p}mlp.fc.weight`),
    mlpProj: read(`${p}mlp.proj.weight`),
  };
}

function sandwich(c: HuginnConfig, b: HuginnBlockWeights, x: Float32Array[]): Float32Array[] {
  const H = c.nHeads;
  const hd = c.headDim;
  const eps = c.rmsNormEps;
  const q: Float32Array[] = [];
  const k: Float32Array[] = [];
  const v: Float32Array[] = [];
  x.forEach((xt, t) => {
    const qkv = matVec(b.wqkv, rmsNorm(xt, b.norm1.data, eps));
    const qt = qkv.slice(0, H * hd);
    const kt = qkv.slice(H * hd, 2 * H * hd);
    if (b.qkBias) {
      for (let i = 0; i < H * hd; i++) {
        qt[i] += b.qkBias.data[i];
        kt[i] += b.qkBias.data[H * hd + i];
      }
    }
    q.push(ropeAdjacent(qt, H, hd, c.ropeTheta, t));
    k.push(ropeAdjacent(kt, H, hd, c.ropeTheta, t));
    v.push(qkv.slice(2 * H * hd, 3 * H * hd));
  });
  return x.map((xt, t) => {
    // causal attention of position t over 0..t, head by head
    const att = new Float32Array(H * hd);
    for (let h = 0; h < H; h++) {
      const o = h * hd;
      const scores = new Float64Array(t + 1);
      let max = -Infinity;
      for (let u = 0; u <= t; u++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[t][o + i] * k[u][o + i];
        scores[u] = dot / Math.sqrt(hd);
        max = Math.max(max, scores[u]);
      }
      let sum = 0;
      for (let u = 0; u <= t; u++) sum += (scores[u] = Math.exp(scores[u] - max));
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        for (let u = 0; u <= t; u++) acc += (scores[u] / sum) * v[u][o + i];
        att[o + i] = acc;
      }
    }
    const a = matVec(b.proj, att);
    const h = rmsNorm(add(a, xt), b.norm2.data, eps);
    const ab = matVec(b.fc, rmsNorm(h, b.norm3.data, eps));
    const half = ab.length / 2;
    const gated = new Float32Array(half);
    for (let i = 0; i < half; i++) gated[i] = (ab[i] / (1 + Math.exp(-ab[i]))) * ab[half + i];
    return rmsNorm(add(matVec(b.mlpProj, gated), h), b.norm4.data, eps);
  });
}

/** y = W·x (+ b) for W stored [out, in]. */
function matVec(W: Tensor, x: Float32Array, bias?: Float32Array): Float32Array {
  const [rows, cols] = W.dims;
  if (x.length !== cols) throw new Error(`matVec: input ${x.length} != columns ${cols}`);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < cols; i++) s += W.data[r * cols + i] * x[i];
    y[r] = bias ? s + bias[r] : s;
  }
  return y;
}

function rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return Float32Array.from(x, (v, i) => v * inv * weight[i]);
}

/** Rotates dims (2i, 2i+1) of each head by angle t·base^(−2i/hd). */
function ropeAdjacent(vec: Float32Array, H: number, hd: number, base: number, t: number): Float32Array {
  const out = new Float32Array(vec.length);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const angle = t * Math.pow(base, (-2 * i) / hd);
      const [c, s] = [Math.cos(angle), Math.sin(angle)];
      const a = vec[h * hd + 2 * i];
      const b = vec[h * hd + 2 * i + 1];
      out[h * hd + 2 * i] = a * c - b * s;
      out[h * hd + 2 * i + 1] = a * s + b * c;
    }
  }
  return out;
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  return Float32Array.from(a, (v, i) => v + b[i]);
}
