/**
 * Instrumented ONNX decoder for the Llama family (llama2.c, Llama 2/3, Mistral, Qwen2, SmolLM).
 */
import type { LlamaConfig, LlamaTensorReader } from '../checkpoint';
import { GraphBuilder } from './onnxGraph';
import { attention, beginForward, embeddingLookup, hookPoint, linear, lmHead, NBITS_ACCURACY_LEVEL, rmsNorm, siluGate, type ForwardContext, type GraphForm } from './layers';
import type { BlockInfo } from './spec';
import type { PlannedWeight, WeightsManifest, WeightsWriter } from './weights';

/** Every tensor the writer stores, in order, from the config alone. */
export function llamaWeightPlan(c: LlamaConfig): PlannedWeight[] {
  const d = c.dModel;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const plan: PlannedWeight[] = [{ name: 'embed', kind: 'embedding', dims: [c.vocabSize, d] }];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `layers.${i}`;
    plan.push(
      { name: `${p}.attn_norm`, kind: 'vector', dims: [d] },
      { name: `${p}.wq`, kind: 'linear', dims: [q, d] },
      { name: `${p}.wk`, kind: 'linear', dims: [kv, d] },
      { name: `${p}.wv`, kind: 'linear', dims: [kv, d] },
      ...(c.qkvBias
        ? ([
            { name: `${p}.bq`, kind: 'vector', dims: [q] },
            { name: `${p}.bk`, kind: 'vector', dims: [kv] },
            { name: `${p}.bv`, kind: 'vector', dims: [kv] },
          ] as PlannedWeight[])
        : []),
      { name: `${p}.wo`, kind: 'linear', dims: [d, q] },
      { name: `${p}.ffn_norm`, kind: 'vector', dims: [d] },
      { name: `${p}.w_gate`, kind: 'linear', dims: [c.dFF, d] },
      { name: `${p}.w_up`, kind: 'linear', dims: [c.dFF, d] },
      { name: `${p}.w_down`, kind: 'linear', dims: [d, c.dFF] },
    );
  }
  plan.push({ name: 'final_norm', kind: 'vector', dims: [d] });
  plan.push({ name: 'lm_head', kind: 'linear', dims: [c.vocabSize, d], ...(c.tiedEmbeddings ? { duplicateOf: 'embed' } : {}) });
  return plan;
}

/** Writes every weight once, reading one checkpoint tensor at a time, in llamaWeightPlan's order. */
export function writeLlamaWeights(c: LlamaConfig, read: LlamaTensorReader, w: WeightsWriter): void {
  w.embedding('embed', read('embed'));
  for (let i = 0; i < c.nLayers; i++) {
    const p = `layers.${i}`;
    const t = (k: string) => read(`layers.${i}.${k}` as Parameters<LlamaTensorReader>[0]);
    w.vector(`${p}.attn_norm`, [c.dModel], t('attnNorm').data);
    w.linear(`${p}.wq`, t('wq'));
    w.linear(`${p}.wk`, t('wk'));
    w.linear(`${p}.wv`, t('wv'));
    if (c.qkvBias) {
      for (const [name, key] of [['bq', 'bq'], ['bk', 'bk'], ['bv', 'bv']]) {
        const b = t(key);
        w.vector(`${p}.${name}`, b.dims, b.data);
      }
    }
    w.linear(`${p}.wo`, t('wo'));
    w.vector(`${p}.ffn_norm`, [c.dModel], t('ffnNorm').data);
    w.linear(`${p}.w_gate`, t('wGate'));
    w.linear(`${p}.w_up`, t('wUp'));
    w.linear(`${p}.w_down`, t('wDown'));
  }
  w.vector('final_norm', [c.dModel], read('finalNorm').data);
  // The head is its own tensor even when tied (see weights.ts): the embedding, read a second time.
  if (c.tiedEmbeddings) w.splitLinear('lm_head', read('embed'), { duplicateOf: 'embed' });
  else w.splitLinear('lm_head', read('lmHead'));
}

export function llamaBlocks(nLayers: number): BlockInfo[] {
  return Array.from({ length: nLayers }, (_, i) => ({ index: i, part: 'layer', label: `layer ${i}` }));
}

/** Emits the decoder graph, in the given form, over an already-written weights file. */
export function buildLlamaGraph(c: LlamaConfig, source: string, weights: WeightsManifest, form: GraphForm): Uint8Array {
  const g = new GraphBuilder(`layerlab-${c.modelType}`, weights, form.nbitsAccuracyLevel ?? NBITS_ACCURACY_LEVEL);
  const { ctx, inputIds } = beginForward(g, { dModel: c.dModel, headDim: c.headDim, ropeTheta: c.ropeTheta, ropeStyle: c.ropeStyle, ...form });
  let x = embeddingLookup(g, 'embed', inputIds);
  for (let l = 0; l < c.nLayers; l++) {
    const input = x;
    x = g.scoped(`layer${l}`, () => llamaBlock(ctx, c, l, input));
  }
  lmHead(ctx, x, (h) => g.scoped('final_norm', () => rmsNorm(g, h, g.weight('final_norm'), c.rmsNormEps)), 'lm_head', c.vocabSize);
  return g.encode(`LayerLab instrumented decoder (${weights.precision} weights) for ${source}`);
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
      wq: `${p}.wq`,
      wk: `${p}.wk`,
      wv: `${p}.wv`,
      ...(c.qkvBias ? { bq: g.weight(`${p}.bq`), bk: g.weight(`${p}.bk`), bv: g.weight(`${p}.bv`) } : {}),
    },
    { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim },
    l,
  );
  x = g.op('Add', [x, linear(g, a, `${p}.wo`)]);
  const h2 = rmsNorm(g, x, g.weight(`${p}.ffn_norm`), c.rmsNormEps);
  const mlp = g.scoped('mlp', () => linear(g, siluGate(g, linear(g, h2, `${p}.w_gate`), linear(g, h2, `${p}.w_up`)), `${p}.w_down`));
  x = g.op('Add', [x, mlp]);
  return hookPoint(ctx, l, 'hook_resid_post', x);
}
