/**
 * Instrumented ONNX graph of a recurrent-depth huginn_raven model (huginn-0125), unrolled:
 *
 *   e  = prelude(embed(ids) · embed_scale)
 *   s  = s₀                                   (zeros, or the seeded random table by position)
 *   repeat num_steps times:  s = core(adapter(concat[s, e]))
 *   y  = coda(ln_f(s));  logits = head(ln_f(y))   (head = embed when tied)
 *
 * Every unrolled block is a graph block of its own: hook points `blocks.{l}.hook_resid_pre|post`,
 * its own KV cache `past.{l}` / `present.{l}` (the original caches each recurrence separately
 * too), and its own rows in the edit inputs, so an edit at core block j in recurrence r touches
 * that recurrence only. The core blocks' weights are written to the weights file once and every
 * recurrence's nodes reference the same initializers, so the graph and the loaded session hold
 * the core once whatever num_steps is.
 *
 * Hook semantics: hook_resid_pre is the block's input — for core block 0 of a recurrence that is
 * the adapter output, for coda block 0 it is ln_f of the last core output — and hook_resid_post
 * the block's output before any ln_f.
 */
import type { HuginnConfig, HuginnPart, HuginnTensorReader } from '../huginn/checkpoint';
import { huginnBlockPrefix, huginnPartSize, huginnTensorTable } from '../huginn/checkpoint';
import { huginnBlockCount, huginnBlocks, type HuginnRunOptions } from '../huginn/options';
import { huginnStateTable } from '../huginn/stateInit';
import { GraphBuilder } from './onnxGraph';
import { applyRope, attentionCore, beginForward, embeddingLookup, hookPoint, linear, lmHead, NBITS_ACCURACY_LEVEL, rmsNorm, siluGate, type ForwardContext, type GraphForm } from './layers';
import type { BlockInfo } from './spec';
import type { PlannedWeight, WeightsManifest, WeightsWriter } from './weights';

const PARTS: HuginnPart[] = ['prelude', 'core', 'coda'];
/** Weight-file name of block i of a part: `prelude.0`, `core.3`, `coda.1`. */
const blockKey = (part: HuginnPart, i: number) => `${part}.${i}`;

/** Every tensor the writer stores, in order, from the config alone. */
export function huginnWeightPlan(c: HuginnConfig): PlannedWeight[] {
  const d = c.dModel;
  const plan: PlannedWeight[] = [{ name: 'embed', kind: 'embedding', dims: [c.vocabSize, d] }];
  for (const part of PARTS) {
    for (let i = 0; i < huginnPartSize(c, part); i++) {
      const k = blockKey(part, i);
      for (const n of [1, 2, 3, 4]) plan.push({ name: `${k}.norm_${n}`, kind: 'vector', dims: [d] });
      plan.push({ name: `${k}.wqkv`, kind: 'linear', dims: [3 * c.nHeads * c.headDim, d] });
      if (c.qkBias) plan.push({ name: `${k}.qk_bias`, kind: 'vector', dims: [2 * c.nHeads, c.headDim] });
      plan.push(
        { name: `${k}.proj`, kind: 'linear', dims: [d, c.nHeads * c.headDim] },
        { name: `${k}.fc`, kind: 'linear', dims: [2 * c.dFF, d] },
        { name: `${k}.mlp_proj`, kind: 'linear', dims: [d, c.dFF] },
      );
    }
  }
  plan.push({ name: 'adapter', kind: 'linear', dims: [d, 2 * d] });
  if (c.adapterBias) plan.push({ name: 'adapter_bias', kind: 'vector', dims: [d] });
  plan.push({ name: 'ln_f', kind: 'vector', dims: [d] });
  plan.push({ name: 'lm_head', kind: 'linear', dims: [c.vocabSize, d], ...(c.tiedEmbeddings ? { duplicateOf: 'embed' } : {}) });
  return plan;
}

/**
 * Writes every weight once, reading one checkpoint tensor at a time, in huginnWeightPlan's order;
 * qk_bias [2,1,H,hd] is stored as [2H, hd], the bias of the stacked q|k heads. Nothing here
 * depends on num_steps or the state init, so every variant shares the file.
 */
export function writeHuginnWeights(c: HuginnConfig, read: HuginnTensorReader, out: WeightsWriter): void {
  // Check the names used below against the reader's table, so a typo cannot silently skip a tensor.
  const known = new Set(huginnTensorTable(c).map((t) => t.name));
  const used = new Set<string>();
  const track = (name: string) => {
    if (!known.has(name)) throw new Error(`huginn writer: ${name} is not in the tensor table`);
    used.add(name);
    return read(name);
  };
  out.embedding('embed', track('transformer.wte.weight'));
  for (const part of PARTS) {
    for (let i = 0; i < huginnPartSize(c, part); i++) {
      const p = huginnBlockPrefix(part, i);
      const k = blockKey(part, i);
      for (const n of [1, 2, 3, 4]) out.vector(`${k}.norm_${n}`, [c.dModel], track(`${p}norm_${n}.weight`).data);
      out.linear(`${k}.wqkv`, track(`${p}attn.Wqkv.weight`));
      if (c.qkBias) out.vector(`${k}.qk_bias`, [2 * c.nHeads, c.headDim], track(`${p}attn.qk_bias`).data);
      out.linear(`${k}.proj`, track(`${p}attn.proj.weight`));
      out.linear(`${k}.fc`, track(`${p}mlp.fc.weight`));
      out.linear(`${k}.mlp_proj`, track(`${p}mlp.proj.weight`));
    }
  }
  out.linear('adapter', track('transformer.adapter.weight'));
  if (c.adapterBias) out.vector('adapter_bias', [c.dModel], track('transformer.adapter.bias').data);
  out.vector('ln_f', [c.dModel], track('transformer.ln_f.weight').data);
  // The head is its own tensor even when tied (see weights.ts): the embedding, read a second time.
  if (c.tiedEmbeddings) out.splitLinear('lm_head', read('transformer.wte.weight'), { duplicateOf: 'embed' });
  else out.splitLinear('lm_head', track('lm_head.weight'));
  const unused = [...known].filter((n) => !used.has(n));
  if (unused.length) throw new Error(`huginn writer: tensors not written: ${unused.join(', ')}`);
}

export function huginnGraphBlocks(c: HuginnConfig, numSteps: number): BlockInfo[] {
  return huginnBlocks({ nPrelude: c.nPrelude, nCore: c.nCore, nCoda: c.nCoda, numSteps });
}

/**
 * Emits the unrolled decoder graph, in the given form, over an already-written weights file. The
 * random initial state's table is the one per-variant tensor: it is stored in the graph itself.
 */
export function buildHuginnGraph(c: HuginnConfig, opts: HuginnRunOptions, source: string, weights: WeightsManifest, form: GraphForm): Uint8Array {
  // The q|k stacking below assumes as many KV heads as query heads, as the reader enforces.
  if (c.nKvHeads !== c.nHeads) throw new Error(`huginn graph: ${c.nKvHeads} KV heads for ${c.nHeads} query heads is not supported`);
  const g = new GraphBuilder(`layerlab-${c.modelType}-steps${opts.numSteps}`, weights, form.nbitsAccuracyLevel ?? NBITS_ACCURACY_LEVEL);
  const { ctx, inputIds } = beginForward(g, { dModel: c.dModel, headDim: c.headDim, ropeTheta: c.ropeTheta, ropeStyle: c.ropeStyle, ...form });
  const hc: HuginnContext = { ctx, c };
  let l = 0; // unrolled block index: hook points and KV cache number
  let x = g.scoped('embed', () => {
    const rows = embeddingLookup(g, 'embed', inputIds);
    return c.embedScale === 1 ? rows : g.op('Mul', [rows, g.scalarF32(c.embedScale)]);
  });
  for (let i = 0; i < c.nPrelude; i++) x = g.scoped(`prelude${i}`, () => sandwichBlock(hc, blockKey('prelude', i), l++, x));
  const injected = x;

  let s = g.scoped('state_init', () => {
    if (opts.stateInit !== 'random') return g.op('Expand', [g.scalarF32(0), g.op('Shape', [injected])]);
    const table = huginnStateTable(opts.stateSeed, c.maxSeqLen, c.dModel, c.stateStd * c.embedScale);
    // position_ids is a graph input (declared by beginForward): one table row per position.
    return g.op('Gather', [g.constF32Raw(table, [c.maxSeqLen, c.dModel], 'state_table'), 'position_ids'], { axis: 0 });
  });
  for (let r = 0; r < opts.numSteps; r++) {
    s = g.scoped(`recurrence${r}`, () => {
      let h = g.scoped('adapter', () => linear(g, g.op('Concat', [s, injected], { axis: -1 }), 'adapter', c.adapterBias ? g.weight('adapter_bias') : undefined));
      for (let j = 0; j < c.nCore; j++) {
        const input = h;
        h = g.scoped(`core${j}`, () => sandwichBlock(hc, blockKey('core', j), l++, input));
      }
      return h;
    });
  }
  // The original normalises the recurrence's result with ln_f before the coda (and again after).
  x = g.scoped('ln_f_core', () => rmsNorm(g, s, g.weight('ln_f'), c.rmsNormEps));
  for (let i = 0; i < c.nCoda; i++) x = g.scoped(`coda${i}`, () => sandwichBlock(hc, blockKey('coda', i), l++, x));
  if (l !== huginnBlockCount({ ...c, numSteps: opts.numSteps })) throw new Error(`huginn graph: emitted ${l} blocks, expected ${huginnBlockCount({ ...c, numSteps: opts.numSteps })}`);
  lmHead(ctx, x, (h) => g.scoped('ln_f', () => rmsNorm(g, h, g.weight('ln_f'), c.rmsNormEps)), 'lm_head', c.vocabSize);
  return g.encode(`LayerLab instrumented huginn_raven decoder (num_steps ${opts.numSteps}, state ${opts.stateInit}, ${weights.precision} weights) for ${source}`);
}

interface HuginnContext {
  ctx: ForwardContext;
  c: HuginnConfig;
}

/** `x = norm_2(attn(norm_1(x)) + x); x = norm_4(mlp(norm_3(x)) + x)` with hook points around it. */
function sandwichBlock(hc: HuginnContext, k: string, l: number, input: string): string {
  const { ctx, c } = hc;
  const { g } = ctx;
  const eps = c.rmsNormEps;
  const x = hookPoint(ctx, l, 'hook_resid_pre', input);
  const a = fusedAttention(hc, k, rmsNorm(g, x, g.weight(`${k}.norm_1`), eps), l);
  const h = rmsNorm(g, g.op('Add', [a, x]), g.weight(`${k}.norm_2`), eps);
  const m = gatedMlp(g, c, k, rmsNorm(g, h, g.weight(`${k}.norm_3`), eps));
  const out = rmsNorm(g, g.op('Add', [m, h]), g.weight(`${k}.norm_4`), eps);
  return hookPoint(ctx, l, 'hook_resid_post', out);
}

/**
 * One Wqkv projection; q and k stay stacked as 2H heads (as the original rotates cat[q, k]) for the
 * qk bias and one RoPE, then split for attention over KV cache `l`; then proj.
 */
function fusedAttention(hc: HuginnContext, k: string, h: string, l: number): string {
  const { ctx, c } = hc;
  const { g } = ctx;
  const { nHeads, headDim } = c;
  return g.scoped('attn', () => {
    // [B,S,3H,hd]: heads 0..H−1 are q, H..2H−1 are k, 2H..3H−1 are v (nKvHeads = nHeads).
    const heads = g.op('Reshape', [linear(g, h, `${k}.wqkv`), g.constI64([0, 0, 3 * nHeads, headDim])]);
    const [qk, v] = g.opN('Split', [heads, g.constI64([2 * nHeads, nHeads])], 2, { axis: 2 });
    const biased = c.qkBias ? g.op('Add', [qk, g.weight(`${k}.qk_bias`)]) : qk;
    const [q, key] = g.opN('Split', [applyRope(ctx, biased, 2 * nHeads), g.constI64([nHeads, nHeads])], 2, { axis: 2 });
    const y = attentionCore(ctx, q, key, v, { nHeads, nKvHeads: nHeads, headDim }, l);
    return linear(g, y, `${k}.proj`);
  });
}

/** `proj(silu(a) * b)` where `fc` produces a | b. */
function gatedMlp(g: GraphBuilder, c: HuginnConfig, k: string, h: string): string {
  return g.scoped('mlp', () => {
    const [a, b] = g.opN('Split', [linear(g, h, `${k}.fc`), g.constI64([c.dFF, c.dFF])], 2, { axis: -1 });
    return linear(g, siluGate(g, a, b), `${k}.mlp_proj`);
  });
}
