/**
 * Transformer pieces shared by the architecture builders: RMSNorm, rotary embeddings, causal
 * attention over a KV cache with a padding mask, gated MLPs, and the hook points with their
 * optional in-graph edit. Everything is written with standard ONNX ops (opset 17) so the
 * graphs run on any execution provider.
 */
import type { GraphBuilder } from './onnxGraph';
import type { RopeStyle } from '../checkpoint';
import { EDIT_INPUTS, hookIndex, hookName, hookOutput, type HookKind } from './spec';

/** Values computed once per forward pass and used by every block. */
export interface ForwardContext {
  g: GraphBuilder;
  /** [B, S, 1, half] cos / sin of position × inverse frequency, per rotary pair. */
  rope: { cos: string; sin: string; half: number; style: RopeStyle };
  /** [B, 1, S, T] additive attention bias: 0 where a query may attend a key, very negative elsewhere. */
  attnBias: string;
  /** Present when building the edit graph. */
  edit?: { scale: string; direction: string; add: string; mask3: string };
  /** Hook outputs declared so far, in declaration order. */
  hooks: string[];
  dModel: number;
}

const NEG = -1e30;

/**
 * Declares graph inputs shared by all decoders and derives the per-pass values.
 * `input_ids` [B,S], `position_ids` [B,S] (the runtime derives them from the mask), and
 * `attention_mask` [B,T] over past + current tokens, T = P + S, 0 for left padding.
 */
export function beginForward(
  g: GraphBuilder,
  opts: { dModel: number; headDim: number; ropeTheta: number; ropeStyle: RopeStyle; withEdit: boolean },
): { ctx: ForwardContext; inputIds: string } {
  const inputIds = g.input('input_ids', 'int64', ['batch', 'seq']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'total']);

  const rope = g.scoped('rope', () => {
    const half = opts.headDim / 2;
    const invFreq = new Float32Array(half);
    // Computed in float64 then rounded once, as the reference implementations do.
    for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(opts.ropeTheta, (2 * i) / opts.headDim);
    const pos = g.op('Cast', [positionIds], { to: 1 });
    const pos3 = g.op('Unsqueeze', [pos, g.constI64([-1])]); // [B,S,1]
    const freqs = g.op('Mul', [pos3, g.constF32(invFreq, [half], 'inv_freq')]); // [B,S,half]
    // [B,S,1,half]: broadcast over heads; adjacent style adds a trailing pair axis later.
    const f4 = g.op('Unsqueeze', [freqs, g.constI64([2])]);
    return { cos: g.op('Cos', [f4]), sin: g.op('Sin', [f4]), half, style: opts.ropeStyle };
  });

  const attnBias = g.scoped('mask', () => {
    // Query i (absolute position P+i) may attend key j when j <= P+i and key j is not padding.
    const shapeIds = g.op('Shape', [inputIds]);
    const S = g.op('Gather', [shapeIds, g.scalarI64(1)], { axis: 0 });
    const shapeMask = g.op('Shape', [mask]);
    const T = g.op('Gather', [shapeMask, g.scalarI64(1)], { axis: 0 });
    const P = g.op('Sub', [T, S]);
    const zero = g.scalarI64(0);
    const one = g.scalarI64(1);
    const qPos = g.op('Add', [g.op('Range', [zero, S, one]), P]); // [S]
    const kPos = g.op('Range', [zero, T, one]); // [T]
    const causal = g.op('LessOrEqual', [
      g.op('Unsqueeze', [kPos, g.constI64([0])]), // [1,T]
      g.op('Unsqueeze', [qPos, g.constI64([1])]), // [S,1]
    ]); // [S,T]
    const notPad = g.op('Cast', [g.op('Unsqueeze', [mask, g.constI64([1])])], { to: 9 }); // [B,1,T]
    const allowed = g.op('And', [g.op('Unsqueeze', [causal, g.constI64([0])]), notPad]); // [B,S,T]
    const bias = g.op('Where', [allowed, g.scalarF32(0), g.scalarF32(NEG)]);
    return g.op('Unsqueeze', [bias, g.constI64([1])]); // [B,1,S,T]
  });

  let edit: ForwardContext['edit'];
  if (opts.withEdit) {
    const scale = g.input(EDIT_INPUTS.scale, 'float32', ['hooks']);
    const direction = g.input(EDIT_INPUTS.direction, 'float32', ['hooks', opts.dModel]);
    const add = g.input(EDIT_INPUTS.add, 'float32', ['hooks', opts.dModel]);
    const editMask = g.input(EDIT_INPUTS.mask, 'float32', ['batch', 'seq']);
    edit = { scale, direction, add, mask3: g.op('Unsqueeze', [editMask, g.constI64([-1])]) };
  }
  return { ctx: { g, rope, attnBias, edit, hooks: [], dModel: opts.dModel }, inputIds };
}

/**
 * A hook point on the residual stream `x` [B,S,d]. In the edit graph applies
 * `x ← x + mask·(scale·(x·d̂)·d̂ + add)` with this hook's row of the edit inputs; zero scale and
 * zero add leave x unchanged (x + 0). Exposes the (edited) value as outputs `blocks.l.kind`
 * [B,S,d] and `blocks.l.kind.last` [B,d]. Returns the value downstream computation must use.
 */
export function hookPoint(ctx: ForwardContext, block: number, kind: HookKind, x: string): string {
  const { g } = ctx;
  const name = hookName(block, kind);
  return g.scoped(name, () => {
    let value = x;
    if (ctx.edit) {
      const h = g.scalarI64(hookIndex(block, kind));
      const dir = g.op('Gather', [ctx.edit.direction, h], { axis: 0 }); // [d]
      const scale = g.op('Gather', [ctx.edit.scale, h], { axis: 0 }); // []
      const add = g.op('Gather', [ctx.edit.add, h], { axis: 0 }); // [d]
      const proj = g.op('MatMul', [x, g.op('Unsqueeze', [dir, g.constI64([1])])]); // [B,S,1]
      const delta = g.op('Add', [g.op('Mul', [g.op('Mul', [proj, scale]), dir]), add]);
      value = g.op('Add', [x, g.op('Mul', [delta, ctx.edit.mask3])]);
    }
    const out = g.op('Identity', [value], {}, hookOutput.all(name));
    g.output(out, 'float32', ['batch', 'seq', ctx.dModel]);
    const last = g.op('Gather', [out, g.scalarI64(-1)], { axis: 1 }, hookOutput.last(name));
    g.output(last, 'float32', ['batch', ctx.dModel]);
    ctx.hooks.push(name);
    return out;
  });
}

/** `x * w / sqrt(mean(x²) + eps)` over the last axis. */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  return g.scoped('rmsnorm', () => {
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalarF32(eps)])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), weight]);
  });
}

/** x [B,S,H,hd] rotated by position. */
export function applyRope(ctx: ForwardContext, x: string, nHeads: number, headDim: number): string {
  const { g, rope } = ctx;
  return g.scoped('rope_apply', () => {
    if (rope.style === 'halves') {
      const [x0, x1] = g.opN('Split', [x, g.constI64([rope.half, rope.half])], 2, { axis: -1 });
      const out0 = g.op('Sub', [g.op('Mul', [x0, rope.cos]), g.op('Mul', [x1, rope.sin])]);
      const out1 = g.op('Add', [g.op('Mul', [x1, rope.cos]), g.op('Mul', [x0, rope.sin])]);
      return g.op('Concat', [out0, out1], { axis: -1 });
    }
    // adjacent pairs (2i, 2i+1): view as [B,S,H,half,2]
    const pairs = g.op('Reshape', [x, g.constI64([0, 0, nHeads, rope.half, 2])]);
    const [x0, x1] = g.opN('Split', [pairs, g.constI64([1, 1])], 2, { axis: -1 });
    const cos = g.op('Unsqueeze', [rope.cos, g.constI64([-1])]);
    const sin = g.op('Unsqueeze', [rope.sin, g.constI64([-1])]);
    const out0 = g.op('Sub', [g.op('Mul', [x0, cos]), g.op('Mul', [x1, sin])]);
    const out1 = g.op('Add', [g.op('Mul', [x0, sin]), g.op('Mul', [x1, cos])]);
    return g.op('Reshape', [g.op('Concat', [out0, out1], { axis: -1 }), g.constI64([0, 0, nHeads, headDim])]);
  });
}

export interface AttentionWeights {
  /** [d, nHeads·hd] (already transposed for MatMul) */
  wq: string;
  wk: string;
  wv: string;
  wo: string;
  bq?: string;
  bk?: string;
  bv?: string;
}

/**
 * Grouped-query causal self-attention over `h` [B,S,d] with KV cache number `kvIndex`
 * (inputs `past.{i}.key|value` [B,nKv,P,hd], outputs `present.{i}.key|value` [B,nKv,T,hd]).
 * `qkBias` (huginn) adds a learned [H,hd] bias to q and k before RoPE.
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
  const group = nHeads / nKvHeads;
  return g.scoped('attn', () => {
    const proj = (wt: string, b: string | undefined, heads: number) => {
      let y = g.op('MatMul', [h, wt]);
      if (b) y = g.op('Add', [y, b]);
      return g.op('Reshape', [y, g.constI64([0, 0, heads, headDim])]); // [B,S,heads,hd]
    };
    const q = applyRope(ctx, proj(w.wq, w.bq, nHeads), nHeads, headDim);
    const k = applyRope(ctx, proj(w.wk, w.bk, nKvHeads), nKvHeads, headDim);
    const v = proj(w.wv, w.bv, nKvHeads);
    return attentionCore(ctx, q, k, v, shape, kvIndex, group);
  });
}

/** Attention given rotated q [B,S,H,hd], k and v [B,S,nKv,hd]; returns [B,S,H·hd] (before wo). */
export function attentionCore(
  ctx: ForwardContext,
  q: string,
  k: string,
  v: string,
  shape: { nHeads: number; nKvHeads: number; headDim: number },
  kvIndex: number,
  group: number,
): string {
  const { g } = ctx;
  const { nHeads, nKvHeads, headDim } = shape;
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

/** `down(silu(gate·x) * (up·x))` with separate gate and up matrices. */
export function swiGlu(g: GraphBuilder, h: string, wGate: string, wUp: string, wDown: string): string {
  return g.scoped('mlp', () => {
    const gate = g.op('MatMul', [h, wGate]);
    const up = g.op('MatMul', [h, wUp]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    return g.op('MatMul', [act, wDown]);
  });
}

/** Transposes a PyTorch [out, in] matrix to the [in, out] layout MatMul wants. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}
