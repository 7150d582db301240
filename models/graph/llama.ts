/**
 * Instrumented ONNX decoder for the Llama family (llama2.c, Llama 2/3, Mistral, Qwen2, SmolLM).
 */
import type { LlamaCheckpoint, LlamaConfig } from '../checkpoint';
import { ExternalWeights, GraphBuilder } from './onnxGraph';
import { attention, beginForward, hookPoint, rmsNorm, swiGlu, transpose2d, type ForwardContext } from './layers';
import type { BlockInfo } from './spec';

/** Writes every weight once, in the layout the graph consumes. */
export function writeLlamaWeights(ckpt: LlamaCheckpoint, weights: ExternalWeights): void {
  const { config: c, weights: w } = ckpt;
  const addT = (name: string, t: { dims: number[]; data: Float32Array }) =>
    weights.add(name, [t.dims[1], t.dims[0]], transpose2d(t.data, t.dims[0], t.dims[1]));
  // Token embedding stays [V, d]: Gather reads rows, and the head uses it through Gemm(transB).
  weights.add('embed', w.embed.dims, w.embed.data);
  w.layers.forEach((l, i) => {
    const p = `layers.${i}`;
    weights.add(`${p}.attn_norm`, l.attnNorm.dims, l.attnNorm.data);
    addT(`${p}.wq`, l.wq);
    addT(`${p}.wk`, l.wk);
    addT(`${p}.wv`, l.wv);
    if (c.qkvBias) {
      weights.add(`${p}.bq`, l.bq!.dims, l.bq!.data);
      weights.add(`${p}.bk`, l.bk!.dims, l.bk!.data);
      weights.add(`${p}.bv`, l.bv!.dims, l.bv!.data);
    }
    addT(`${p}.wo`, l.wo);
    weights.add(`${p}.ffn_norm`, l.ffnNorm.dims, l.ffnNorm.data);
    addT(`${p}.w_gate`, l.wGate);
    addT(`${p}.w_up`, l.wUp);
    addT(`${p}.w_down`, l.wDown);
  });
  weights.add('final_norm', w.finalNorm.dims, w.finalNorm.data);
  if (!c.tiedEmbeddings) weights.add('lm_head', w.lmHead!.dims, w.lmHead!.data);
}

export function llamaBlocks(nLayers: number): BlockInfo[] {
  return Array.from({ length: nLayers }, (_, i) => ({ index: i, part: 'layer', label: `layer ${i}` }));
}

/** Emits the decoder graph (with or without the edit inputs) over already-written weights. */
export function buildLlamaGraph(c: LlamaConfig, source: string, weights: ExternalWeights, withEdit: boolean): Uint8Array {
  const g = new GraphBuilder(`layerlab-${c.modelType}`, weights);
  const { ctx, inputIds } = beginForward(g, {
    dModel: c.dModel,
    headDim: c.headDim,
    ropeTheta: c.ropeTheta,
    ropeStyle: c.ropeStyle,
    withEdit,
  });
  let x = g.op('Gather', [g.weight('embed'), inputIds], { axis: 0 });
  for (let l = 0; l < c.nLayers; l++) {
    x = g.scoped(`layer${l}`, () => llamaBlock(ctx, c, l, x));
  }
  lmHead(ctx, x, rmsNorm(g, x, g.weight('final_norm'), c.rmsNormEps), c.tiedEmbeddings ? 'embed' : 'lm_head', c.vocabSize);
  return g.encode(`LayerLab instrumented decoder for ${source}`);
}

function llamaBlock(ctx: ForwardContext, c: LlamaConfig, l: number, input: string): string {
  const { g } = ctx;
  const p = `layers.${l}`;
  let x = hookPoint(ctx, l, 'hook_resid_pre', input);
  const h = rmsNorm(g, x, g.weight(`${p}.attn_norm`), c.rmsNormEps);
  const a = attention(
    ctx,
    h,
    {
      wq: g.weight(`${p}.wq`),
      wk: g.weight(`${p}.wk`),
      wv: g.weight(`${p}.wv`),
      wo: g.weight(`${p}.wo`),
      ...(c.qkvBias ? { bq: g.weight(`${p}.bq`), bk: g.weight(`${p}.bk`), bv: g.weight(`${p}.bv`) } : {}),
    },
    { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim },
    l,
  );
  x = g.op('Add', [x, g.op('MatMul', [a, g.weight(`${p}.wo`)])]);
  const h2 = rmsNorm(g, x, g.weight(`${p}.ffn_norm`), c.rmsNormEps);
  x = g.op('Add', [x, swiGlu(g, h2, g.weight(`${p}.w_gate`), g.weight(`${p}.w_up`), g.weight(`${p}.w_down`))]);
  return hookPoint(ctx, l, 'hook_resid_post', x);
}

/**
 * logits [B,S,V] = normed [B,S,d] · head[V,d]ᵀ. Gemm with transB reads the [V,d] matrix as
 * stored, so a tied head reuses the embedding's bytes instead of a transposed copy.
 */
export function lmHead(ctx: ForwardContext, residual: string, normed: string, headWeight: string, vocab: number): void {
  const { g } = ctx;
  return g.scoped('lm_head', () => {
    const flat = g.op('Reshape', [normed, g.constI64([-1, ctx.dModel])]);
    const scores = g.op('Gemm', [flat, g.weight(headWeight)], { transB: 1 });
    // Back to [B,S,V] using the residual's leading dims.
    const lead = g.op('Slice', [g.op('Shape', [residual]), g.constI64([0]), g.constI64([2])]);
    const shape = g.op('Concat', [lead, g.constI64([vocab])], { axis: 0 });
    const logits = g.op('Reshape', [scores, shape], {}, 'logits');
    g.output(logits, 'float32', ['batch', 'seq', vocab]);
  });
}
