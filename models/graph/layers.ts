/**
 * Transformer pieces shared by the architecture builders, each defined once: RMSNorm, rotary
 * embeddings (both pairings), causal attention over a KV cache with a padding mask, the gated MLP,
 * linear layers and embedding lookups in whatever precision the weights file holds, the head, and
 * the hook points with their in-graph edit. Standard ONNX ops (opset 17) except where the weights
 * are quantized (ONNX Runtime's MatMulNBits and GatherBlockQuantized).
 *
 * Node count matters: ONNX Runtime's session set-up grows faster than linearly with the number
 * of nodes (its allocation planner), and huginn at num_steps 32 unrolls 132 blocks. RMSNorm is
 * written in the exact form ORT fuses into one SimplifiedLayerNormalization, RoPE uses rotation
 * tables built once per pass, and a hook point's edit costs 7 nodes (plus 19 for the rotation of
 * angular steering in the all-positions graph, see beginForward).
 */
import type { RopeStyle } from '../checkpoint';
import { CAST_TO, MS_DOMAIN, type GraphBuilder } from './onnxGraph';
import { EDIT_INPUTS, GRAPH_INPUTS, hookIndex, hookName, hookOutput, LENS, ROTATION_EPS, type HookKind } from './spec';

/** Which form of a model's graph to emit. */
export interface GraphForm {
  /** Take the edit inputs (every graph LayerLab runs does; tests also build the edit-free form). */
  edits: boolean;
  /** Expose every hook point at every position too (see hookOutput in spec.ts). */
  allPositions: boolean;
  /**
   * MatMulNBits' accuracy level (default NBITS_ACCURACY_LEVEL); tests build level 0, fp32
   * arithmetic on the dequantized weights, to compare with the reference exactly.
   */
  nbitsAccuracyLevel?: 0 | 4;
}

/** Values computed once per forward pass and used by every block. */
export interface ForwardContext {
  g: GraphBuilder;
  /** Per-dimension rotation tables [B,S,1,hd] (see ropeTables) and the pairing they belong to. */
  rope: { cos: string; sin: string; style: RopeStyle; headDim: number };
  /** [B, 1, S, T] additive attention bias: 0 where a query may attend a key, very negative elsewhere. */
  attnBias: string;
  /** Absent only in graphs built without edit inputs (tests compare against those). */
  edit?: { project: string; apply: string; mask3: string; e2: string; rotation?: RotationTables };
  /** [B,1,S] weights of this pass's real positions, 1/count each: a MatMul with them is the mean. */
  meanWeights: string;
  /** Whether hook points are graph outputs at every position too. */
  allPositions: boolean;
  /** Hook outputs declared so far, in declaration order. */
  hooks: string[];
  dModel: number;
}

const NEG = -1e30;

/** Per-hook rotation inputs split once per pass: [H] (cos θ − 1) and [H] sin θ, and shared constants. */
interface RotationTables {
  cosMinus1: string;
  sin: string;
  /** Slice bounds that take column 0 (x·d̂) of the [B,S,2] projection. */
  first: { starts: string; ends: string; axes: string };
  /** A position is rotated only where ‖x⊥‖² > ROTATION_EPS·‖x‖² (the plane of x and d̂ exists). */
  eps: string;
  zero: string;
}


/**
 * Declares the graph inputs shared by all decoders and derives the per-pass values:
 * `input_ids` [B,S], `position_ids` [B,S] (the runtime derives them from the mask),
 * `attention_mask` [B,T] over past + current tokens (T = P + S, 0 for left padding),
 * `logits_count` [1] (how many trailing positions get logits) and the edit inputs.
 */
export function beginForward(
  g: GraphBuilder,
  opts: { dModel: number; headDim: number; ropeTheta: number; ropeStyle: RopeStyle } & GraphForm,
): { ctx: ForwardContext; inputIds: string } {
  const inputIds = g.input(GRAPH_INPUTS.inputIds, 'int64', ['batch', 'seq']);
  const positionIds = g.input(GRAPH_INPUTS.positionIds, 'int64', ['batch', 'seq']);
  const mask = g.input(GRAPH_INPUTS.attentionMask, 'int64', ['batch', 'total']);
  g.input(GRAPH_INPUTS.logitsCount, 'int64', [1]);

  const rope = g.scoped('rope', () => ropeTables(g, positionIds, opts.headDim, opts.ropeTheta, opts.ropeStyle));

  const attnBias = g.scoped('mask', () => {
    // Query i (absolute position P+i) may attend key j when j <= P+i and key j is not padding.
    const S = g.op('Gather', [g.op('Shape', [inputIds]), g.scalarI64(1)], { axis: 0 });
    const T = g.op('Gather', [g.op('Shape', [mask]), g.scalarI64(1)], { axis: 0 });
    const P = g.op('Sub', [T, S]);
    const zero = g.scalarI64(0);
    const one = g.scalarI64(1);
    const qPos = g.op('Add', [g.op('Range', [zero, S, one]), P]); // [S]
    const kPos = g.op('Range', [zero, T, one]); // [T]
    const causal = g.op('LessOrEqual', [
      g.op('Unsqueeze', [kPos, g.constI64([0])]), // [1,T]
      g.op('Unsqueeze', [qPos, g.constI64([1])]), // [S,1]
    ]); // [S,T]
    const notPad = g.op('Cast', [g.op('Unsqueeze', [mask, g.constI64([1])])], { to: CAST_TO.bool }); // [B,1,T]
    const allowed = g.op('And', [g.op('Unsqueeze', [causal, g.constI64([0])]), notPad]); // [B,S,T]
    const bias = g.op('Where', [allowed, g.scalarF32(0), g.scalarF32(NEG)]);
    return g.op('Unsqueeze', [bias, g.constI64([1])]); // [B,1,S,T]
  });

  const meanWeights = g.scoped('mean', () => {
    // The current pass's columns of the mask, [B,1,S], divided by their count.
    const S = g.op('Shape', [inputIds], { start: 1, end: 2 });
    const current = g.op('Cast', [g.op('Slice', [mask, g.op('Neg', [S]), g.constI64([Number.MAX_SAFE_INTEGER]), g.constI64([1])])], { to: CAST_TO.float32 });
    const w = g.op('Div', [current, g.op('ReduceSum', [current, g.constI64([1])], { keepdims: 1 })]); // [B,S]
    return g.op('Unsqueeze', [w, g.constI64([1])]);
  });

  let edit: ForwardContext['edit'];
  if (opts.edits) {
    edit = g.scoped('edit', () => {
      const scale = g.input(EDIT_INPUTS.scale, 'float32', ['hooks']);
      const direction = g.input(EDIT_INPUTS.direction, 'float32', ['hooks', opts.dModel]);
      const add = g.input(EDIT_INPUTS.add, 'float32', ['hooks', opts.dModel]);
      const editMask = g.input(EDIT_INPUTS.mask, 'float32', ['batch', 'seq']);
      // Per hook h: project_h = [d̂ | 0] [d,2] and apply_h = [scale·d̂ ; add] [2,d], so that
      // ((x·project_h + [0,1]) ⊙ mask)·apply_h = mask·(scale·(x·d̂)·d̂ + add).
      const col = g.op('Unsqueeze', [direction, g.constI64([2])]); // [H,d,1]
      const project = g.op('Pad', [col, g.constI64([0, 0, 0, 0, 0, 1])]); // [H,d,2]
      const scaled = g.op('Mul', [g.op('Unsqueeze', [scale, g.constI64([1])]), direction]); // [H,d]
      const rows = [g.op('Unsqueeze', [scaled, g.constI64([1])]), g.op('Unsqueeze', [add, g.constI64([1])])];
      // The rotation (angular steering) costs 19 nodes per hook point, which slows ONNX Runtime's
      // session set-up several times for deep unrolled models, so only the all-positions graph
      // has it: the runtime swaps that graph in for a rotation as for a read at every position.
      let rotation: RotationTables | undefined;
      if (opts.allPositions) {
        // A third row, d̂ itself, for the rotation's d̂ term (its coefficient is the third column
        // of the per-position coefficients, see hookPoint).
        rows.push(g.op('Unsqueeze', [direction, g.constI64([1])]));
        const rotate = g.input(EDIT_INPUTS.rotate, 'float32', ['hooks', 2]);
        rotation = {
          cosMinus1: g.op('Gather', [rotate, g.scalarI64(0)], { axis: 1 }), // [H]
          sin: g.op('Gather', [rotate, g.scalarI64(1)], { axis: 1 }), // [H]
          first: { starts: g.constI64([0]), ends: g.constI64([1]), axes: g.constI64([-1]) },
          eps: g.scalarF32(ROTATION_EPS),
          zero: g.scalarF32(0),
        };
      }
      const apply = g.op('Concat', rows, { axis: 1 }); // [H,2,d], or [H,3,d] with the rotation
      // Each hook point Gathers its slice. (One Split into 2·nBlocks outputs would save two nodes
      // per hook point, but WebGPU binds a buffer per output and allows 8 to 12.)
      return { project, apply, mask3: g.op('Unsqueeze', [editMask, g.constI64([-1])]), e2: g.constF32([0, 1], [2], 'e2'), ...(rotation ? { rotation } : {}) };
    });
  }
  return { ctx: { g, rope, attnBias, edit, meanWeights, allPositions: opts.allPositions, hooks: [], dModel: opts.dModel }, inputIds };
}

/**
 * A hook point on the residual stream `x` [B,S,d]. With edit inputs applies, with this hook's
 * row of the edit inputs and a = x·d̂,
 *   `x ← x + mask·(scale·a·d̂ + add + rot(x))`,
 * where rot(x) rotates x by θ within the plane of x and d̂, towards d̂, keeping its norm: with
 * r = ‖x − a·d̂‖, rot(x) = (cos θ − 1 − sin θ·a/r)·x + sin θ·(‖x‖²/r)·d̂ (no rotation where r is
 * 0 in float32; only the all-positions graph has this term). All terms come from the unedited x. Zero scale, zero add and θ = 0 make the
 * correction exactly 0 and leave x bit-identical. Exposes the (edited) value as outputs
 * `blocks.l.kind.last` [B,d], `.mean` [B,1,d] and, in the all-positions graph,
 * `blocks.l.kind` [B,S,d]. Returns the value downstream computation must use.
 */
export function hookPoint(ctx: ForwardContext, block: number, kind: HookKind, x: string): string {
  const { g, edit } = ctx;
  const name = hookName(block, kind);
  return g.scoped(name, () => {
    const outName = ctx.allPositions ? hookOutput.all(name) : undefined;
    let out: string;
    if (edit) {
      const h = g.scalarI64(hookIndex(block, kind));
      const projected = g.op('MatMul', [x, g.op('Gather', [edit.project, h], { axis: 0 })]); // [B,S,2] = [x·d̂, 0]
      const coef = g.op('Mul', [g.op('Add', [projected, edit.e2]), edit.mask3]); // [B,S,2] = mask·[x·d̂, 1]
      const apply = g.op('Gather', [edit.apply, h], { axis: 0 });
      if (edit.rotation) {
        const rotation = edit.rotation;
        const { xCoef, dCoef } = g.scoped('rotate', () => rotationCoefficients(ctx, edit.mask3, rotation, h, x, projected));
        const delta = g.op('MatMul', [g.op('Concat', [coef, dCoef], { axis: -1 }), apply]); // [B,S,d]
        out = g.op('Add', [g.op('Add', [x, delta]), g.op('Mul', [xCoef, x])], {}, outName);
      } else {
        out = g.op('Add', [x, g.op('MatMul', [coef, apply])], {}, outName);
      }
    } else {
      out = outName ? g.op('Identity', [x], {}, outName) : x;
    }
    if (outName) g.output(out, 'float32', ['batch', 'seq', ctx.dModel]);
    const last = g.op('Gather', [out, g.scalarI64(-1)], { axis: 1 }, hookOutput.last(name));
    g.output(last, 'float32', ['batch', ctx.dModel]);
    const mean = g.op('MatMul', [ctx.meanWeights, out], {}, hookOutput.mean(name));
    g.output(mean, 'float32', ['batch', 1, ctx.dModel]);
    ctx.hooks.push(name);
    return out;
  });
}

/**
 * The per-position coefficients of the rotation, already masked: rot(x) = xCoef·x + dCoef·d̂
 * ([B,S,1] each). `projected` is [x·d̂, 0].
 */
function rotationCoefficients(ctx: ForwardContext, mask3: string, t: RotationTables, h: string, x: string, projected: string): { xCoef: string; dCoef: string } {
  const { g } = ctx;
  const a = g.op('Slice', [projected, t.first.starts, t.first.ends, t.first.axes]); // [B,S,1] x·d̂
  const n2 = g.op('ReduceSumSquare', [x], { axes: [-1], keepdims: 1 }); // ‖x‖²
  const r2 = g.op('Sub', [n2, g.op('Mul', [a, a])]); // ‖x⊥‖²
  const planar = g.op('Greater', [r2, g.op('Mul', [n2, t.eps])]);
  // 1/r where the plane exists and the edit applies, else 0 (the Sqrt of a rounding-negative r2
  // is NaN, but Where never picks it).
  const invR = g.op('Mul', [g.op('Where', [planar, g.op('Reciprocal', [g.op('Sqrt', [r2])]), t.zero]), mask3]);
  const rotated = g.op('Sign', [invR]); // 1 where x is rotated, else 0
  const sinOverR = g.op('Mul', [invR, g.op('Gather', [t.sin, h], { axis: 0 })]);
  const xCoef = g.op('Sub', [g.op('Mul', [rotated, g.op('Gather', [t.cosMinus1, h], { axis: 0 })]), g.op('Mul', [sinOverR, a])]);
  const dCoef = g.op('Mul', [sinOverR, n2]);
  return { xCoef, dCoef };
}

/** `x / sqrt(mean(x²) + eps) * w` over the last axis, in the exact pattern ORT's SimplifiedLayerNormFusion matches. */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  return g.scoped('rmsnorm', () => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, g.scalarF32(2)])], { axes: [-1], keepdims: 1 });
    return g.op('Mul', [g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, g.scalarF32(eps)])])]), weight]);
  });
}

/**
 * Rotation tables for rope(x) = x·C + swap(x)·S, [B,S,1,hd] each, built once per pass from the
 * angles θ_i = position · theta^(−2i/hd) (i < hd/2):
 * - `halves` (Hugging Face): pairs (i, i + hd/2); C = (cos θ, cos θ), S = (−sin θ, sin θ),
 *   swap(x) = (x₂, x₁) for the halves x = (x₁, x₂).
 * - `adjacent` (llama2.c, Meta, huginn): pairs (2i, 2i+1); C = (c₀,c₀,c₁,c₁,…),
 *   S = (−s₀,s₀,−s₁,s₁,…), swap exchanges the two values of each pair.
 */
function ropeTables(g: GraphBuilder, positionIds: string, headDim: number, theta: number, style: RopeStyle): ForwardContext['rope'] {
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  // Computed in float64 then rounded once, as the reference implementations do.
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  const pos3 = g.op('Unsqueeze', [g.op('Cast', [positionIds], { to: CAST_TO.float32 }), g.constI64([-1])]); // [B,S,1]
  const angles = g.op('Unsqueeze', [g.op('Mul', [pos3, g.constF32(invFreq, [half], 'inv_freq')]), g.constI64([2])]); // [B,S,1,half]
  const cos = g.op('Cos', [angles]);
  const sin = g.op('Sin', [angles]);
  const negSin = g.op('Neg', [sin]);
  if (style === 'halves') {
    return { cos: g.op('Concat', [cos, cos], { axis: -1 }), sin: g.op('Concat', [negSin, sin], { axis: -1 }), style, headDim };
  }
  const interleave = (a: string, b: string) =>
    g.op('Reshape', [g.op('Concat', [g.op('Unsqueeze', [a, g.constI64([-1])]), g.op('Unsqueeze', [b, g.constI64([-1])])], { axis: -1 }), g.constI64([0, 0, 1, headDim])]);
  return { cos: interleave(cos, cos), sin: interleave(negSin, sin), style, headDim };
}

/** x [B,S,heads,hd] rotated by position. */
export function applyRope(ctx: ForwardContext, x: string, heads: number): string {
  const { g, rope } = ctx;
  const hd = rope.headDim;
  return g.scoped('rope', () => {
    let swapped: string;
    if (rope.style === 'halves') {
      const [x1, x2] = g.opN('Split', [x, g.constI64([hd / 2, hd / 2])], 2, { axis: -1 });
      swapped = g.op('Concat', [x2, x1], { axis: -1 });
    } else {
      const pairs = g.op('Reshape', [x, g.constI64([0, 0, heads, hd / 2, 2])]);
      swapped = g.op('Reshape', [g.op('Gather', [pairs, g.constI64([1, 0])], { axis: -1 }), g.constI64([0, 0, heads, hd])]);
    }
    return g.op('Add', [g.op('Mul', [x, rope.cos]), g.op('Mul', [swapped, rope.sin])]);
  });
}

/**
 * y = x·Wᵀ (+ b) for the matrix `name` of the weights file, in its stored format: fp32 MatMul,
 * fp16 MatMul between casts (so the residual stream and every hook stay fp32), or MatMulNBits.
 */
export function linear(g: GraphBuilder, x: string, name: string, bias?: string): string {
  const parts = g.weights.splitLinears[name];
  if (parts) {
    if (bias) throw new Error(`split linear ${name} takes no bias`);
    return g.op('Concat', parts.map((p) => linear(g, x, p)), { axis: -1 });
  }
  const f = g.weights.linears[name];
  if (!f) throw new Error(`linear ${name} is not in the weights file`);
  let y: string;
  if (f.kind === 'dense' && f.dtype === 'float32') {
    y = g.op('MatMul', [x, g.weight(name)]);
  } else if (f.kind === 'dense') {
    const y16 = g.op('MatMul', [g.op('Cast', [x], { to: CAST_TO.float16 }), g.weight(name)]);
    y = g.op('Cast', [y16], { to: CAST_TO.float32 });
  } else {
    y = g.op(
      'MatMulNBits',
      [x, g.weight(`${name}.q`), g.weight(`${name}.scales`)],
      { K: f.in, N: f.out, bits: f.bits, block_size: f.blockSize, accuracy_level: g.nbitsAccuracyLevel },
      undefined,
      MS_DOMAIN,
    );
  }
  return bias ? g.op('Add', [y, bias]) : y;
}

/**
 * MatMulNBits computes in fp32 (0) or with activations quantized to int8 per block (4, ONNX
 * Runtime's fast path on CPUs with int8 dot products). On a Qwen2-shaped model (d 896, one
 * thread, CPU time) level 0 decoded int8 at 2.4 tokens/s and int4 at 52, level 4 at 56 and 61
 * (fp32: 24); the accuracy cost shows in check-model's figures (README).
 */
export const NBITS_ACCURACY_LEVEL = 4;

/** Rows `ids` [B,S] of the embedding table `name`, as fp32 [B,S,d]. */
export function embeddingLookup(g: GraphBuilder, name: string, ids: string): string {
  const f = g.weights.embeddings[name];
  if (!f) throw new Error(`embedding ${name} is not in the weights file`);
  if (f.kind === 'dense') {
    const rows = g.op('Gather', [g.weight(name), ids], { axis: 0 });
    return f.dtype === 'float32' ? rows : g.op('Cast', [rows], { to: CAST_TO.float32 });
  }
  return g.op(
    'GatherBlockQuantized',
    [g.weight(`${name}.q`), ids, g.weight(`${name}.scales`)],
    { gather_axis: 0, quantize_axis: 1, block_size: f.blockSize, bits: f.bits },
    undefined,
    MS_DOMAIN,
  );
}

export interface AttentionWeights {
  /** Linear names in the weights file. */
  wq: string;
  wk: string;
  wv: string;
  bq?: string;
  bk?: string;
  bv?: string;
}

/**
 * Grouped-query causal self-attention over `h` [B,S,d] with KV cache number `kvIndex`; returns
 * [B,S,H·hd] before the output projection.
 */
export function attention(
  ctx: ForwardContext,
  h: string,
  w: AttentionWeights,
  shape: { nHeads: number; nKvHeads: number; headDim: number },
  kvIndex: number,
): string {
  const { g } = ctx;
  const { nHeads, nKvHeads, headDim } = shape;
  return g.scoped('attn', () => {
    const proj = (name: string, b: string | undefined, heads: number) =>
      g.op('Reshape', [linear(g, h, name, b), g.constI64([0, 0, heads, headDim])]); // [B,S,heads,hd]
    const q = applyRope(ctx, proj(w.wq, w.bq, nHeads), nHeads);
    const k = applyRope(ctx, proj(w.wk, w.bk, nKvHeads), nKvHeads);
    const v = proj(w.wv, w.bv, nKvHeads);
    return attentionCore(ctx, q, k, v, shape, kvIndex);
  });
}

/**
 * Attention given rotated q [B,S,H,hd], k and v [B,S,nKv,hd] over KV cache `kvIndex` (inputs
 * `past.{i}.key|value` [B,nKv,P,hd], outputs `present.{i}.key|value` [B,nKv,T,hd]); returns
 * [B,S,H·hd] (before the output projection).
 */
export function attentionCore(
  ctx: ForwardContext,
  q: string,
  k: string,
  v: string,
  shape: { nHeads: number; nKvHeads: number; headDim: number },
  kvIndex: number,
): string {
  const { g } = ctx;
  const { nHeads, nKvHeads, headDim } = shape;
  const group = nHeads / nKvHeads;
  const qT = g.op('Transpose', [q], { perm: [0, 2, 1, 3] }); // [B,H,S,hd]
  const kNew = g.op('Transpose', [k], { perm: [0, 2, 1, 3] }); // [B,nKv,S,hd]
  const vNew = g.op('Transpose', [v], { perm: [0, 2, 1, 3] });
  const pastK = g.input(`past.${kvIndex}.key`, 'float32', ['batch', nKvHeads, 'past', headDim]);
  const pastV = g.input(`past.${kvIndex}.value`, 'float32', ['batch', nKvHeads, 'past', headDim]);
  const kAll = g.op('Concat', [pastK, kNew], { axis: 2 }, `present.${kvIndex}.key`);
  const vAll = g.op('Concat', [pastV, vNew], { axis: 2 }, `present.${kvIndex}.value`);
  g.output(kAll, 'float32', ['batch', nKvHeads, 'total', headDim]);
  g.output(vAll, 'float32', ['batch', nKvHeads, 'total', headDim]);
  // Query heads of one KV group are stacked along the sequence axis, [B,nKv,g·S,hd], so one
  // batched MatMul serves the whole group without materialising repeated keys.
  const qGrouped = g.op('Reshape', [qT, g.constI64([0, nKvHeads, -1, headDim])]);
  const qScaled = g.op('Mul', [qGrouped, g.scalarF32(1 / Math.sqrt(headDim))]);
  const scores = g.op('MatMul', [qScaled, g.op('Transpose', [kAll], { perm: [0, 1, 3, 2] })]); // [B,nKv,g·S,T]
  const bias = group === 1 ? ctx.attnBias : g.op('Tile', [ctx.attnBias, g.constI64([1, 1, group, 1])]);
  const probs = g.op('Softmax', [g.op('Add', [scores, bias])], { axis: -1 });
  const ctxV = g.op('MatMul', [probs, vAll]); // [B,nKv,g·S,hd]
  const heads = g.op('Reshape', [ctxV, g.constI64([0, nHeads, -1, headDim])]); // [B,H,S,hd]
  return g.op('Reshape', [g.op('Transpose', [heads], { perm: [0, 2, 1, 3] }), g.constI64([0, 0, nHeads * headDim])]);
}

/** `silu(a) * b`, the gate of a gated MLP. */
export function siluGate(g: GraphBuilder, a: string, b: string): string {
  return g.op('Mul', [g.op('Mul', [a, g.op('Sigmoid', [a])]), b]);
}

/**
 * The head: logits for the last `logits_count` positions only, [B, n, V], since with large
 * vocabularies the head over every position costs more memory (S·V floats) and time than most
 * blocks. `final` is the last residual [B,S,d], `finalNorm` the model's final norm, `head` names
 * the head matrix. Also the lens (LENS): hidden-state rows fed in go through the same norm and
 * head, so a logit lens uses exactly the model's own weights, precision and ops. Both share one
 * MatMul (the rows are stacked under the tail's): a second MatMul over the head matrix would make
 * ONNX Runtime hold a second pre-packed copy of it, the largest matrix of most models.
 */
export function lmHead(ctx: ForwardContext, final: string, finalNorm: (x: string) => string, head: string, vocab: number): void {
  const { g } = ctx;
  const lensRows = g.input(LENS.input, 'float32', ['lens_rows', ctx.dModel]);
  g.scoped('lm_head', () => {
    const count = GRAPH_INPUTS.logitsCount;
    const max = g.constI64([Number.MAX_SAFE_INTEGER]);
    const tail = g.op('Slice', [final, g.op('Neg', [count]), max, g.constI64([1])]); // [B,n,d]
    const flat = g.op('Reshape', [tail, g.constI64([-1, ctx.dModel])]); // [B·n,d]
    const rows = g.op('Concat', [flat, lensRows], { axis: 0 }); // [B·n+N,d]
    const y = linear(g, finalNorm(rows), head); // [B·n+N,V]
    const m = g.op('Shape', [flat], { start: 0, end: 1 }); // [1] = B·n
    const axis0 = g.constI64([0]);
    const logitsShape = g.op('Concat', [g.op('Shape', [tail], { start: 0, end: 2 }), g.constI64([vocab])], { axis: 0 });
    const logits = g.op('Reshape', [g.op('Slice', [y, g.constI64([0]), m, axis0]), logitsShape], {}, 'logits');
    g.output(logits, 'float32', ['batch', 'logit_positions', vocab]);
    const lens = g.op('Slice', [y, m, max, axis0], {}, LENS.output);
    g.output(lens, 'float32', ['lens_rows', vocab]);
  });
}
