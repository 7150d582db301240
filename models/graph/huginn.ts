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
import { ExternalWeights, GraphBuilder } from './onnxGraph';
import { attentionCore, beginForward, hookPoint, transpose2d, type ForwardContext } from './layers';
import { lmHead } from './llama';
import type { BlockInfo } from './spec';

const PARTS: HuginnPart[] = ['prelude', 'core', 'coda'];
/** Weight-file name of block i of a part: `prelude.0`, `core.3`, `coda.1`. */
const blockKey = (part: HuginnPart, i: number) => `${part}.${i}`;

/**
 * Writes every weight once, in the layout the graph consumes, reading one checkpoint tensor at a
 * time. Matrices are transposed to [in, out] for MatMul; the embedding stays [V, d] (Gather rows,
 * Gemm(transB) for the tied head); qk_bias [2,1,H,hd] is stored as [2H, hd], the bias of the
 * stacked q|k heads.
 * With the random state init, the per-position state table [maxSeqLen, d] is written too.
 */
export function writeHuginnWeights(c: HuginnConfig, opts: HuginnRunOptions, read: HuginnTensorReader, out: ExternalWeights): void {
  const addT = (name: string, hfName: string) => {
    const t = read(hfName);
    out.add(name, [t.dims[1], t.dims[0]], transpose2d(t.data, t.dims[0], t.dims[1]));
  };
  const add = (name: string, hfName: string) => {
    const t = read(hfName);
    out.add(name, t.dims, t.data);
  };
  // Check the names used below against the reader's table, so a typo cannot silently skip a tensor.
  const known = new Set(huginnTensorTable(c).map((t) => t.name));
  const used = new Set<string>();
  const track = (name: string) => {
    if (!known.has(name)) throw new Error(`huginn writer: ${name} is not in the tensor table`);
    used.add(name);
    return name;
  };

  add('embed', track('transformer.wte.weight'));
  for (const part of PARTS) {
    for (let i = 0; i < huginnPartSize(c, part); i++) {
      const p = huginnBlockPrefix(part, i);
      const k = blockKey(part, i);
      for (const n of [1, 2, 3, 4]) add(`${k}.norm_${n}`, track(`${p}norm_${n}.weight`));
      addT(`${k}.wqkv`, track(`${p}attn.Wqkv.weight`));
      if (c.qkBias) {
        const b = read(track(`${p}attn.qk_bias`));
        out.add(`${k}.qk_bias`, [2 * c.nHeads, c.headDim], b.data);
      }
      addT(`${k}.proj`, track(`${p}attn.proj.weight`));
      addT(`${k}.fc`, track(`${p}mlp.fc.weight`));
      addT(`${k}.mlp_proj`, track(`${p}mlp.proj.weight`));
    }
  }
  addT('adapter', track('transformer.adapter.weight'));
  if (c.adapterBias) add('adapter_bias', track('transformer.adapter.bias'));
  add('ln_f', track('transformer.ln_f.weight'));
  if (!c.tiedEmbeddings) add('lm_head', track('lm_head.weight'));
  const unused = [...known].filter((n) => !used.has(n));
  if (unused.length) throw new Error(`huginn writer: tensors not written: ${unused.join(', ')}`);
  if (opts.stateInit === 'random') {
    out.add('state_init', [c.maxSeqLen, c.dModel], huginnStateTable(opts.stateSeed, c.maxSeqLen, c.dModel, c.stateStd * c.embedScale));
  }
}

export function huginnGraphBlocks(c: HuginnConfig, numSteps: number): BlockInfo[] {
  return huginnBlocks({ nPrelude: c.nPrelude, nCore: c.nCore, nCoda: c.nCoda, numSteps });
}

/** Emits the unrolled decoder graph (with or without the edit inputs) over already-written weights. */
export function buildHuginnGraph(c: HuginnConfig, opts: HuginnRunOptions, source: string, weights: ExternalWeights, withEdit: boolean): Uint8Array {
  // The q|k stacking below assumes as many KV heads as query heads, as the reader enforces.
  if (c.nKvHeads !== c.nHeads) throw new Error(`huginn graph: ${c.nKvHeads} KV heads for ${c.nHeads} query heads is not supported`);
  const g = new GraphBuilder(`layerlab-${c.modelType}-steps${opts.numSteps}`, weights);
  const { ctx, inputIds } = beginForward(g, { dModel: c.dModel, headDim: c.headDim, ropeTheta: c.ropeTheta, ropeStyle: c.ropeStyle, withEdit });
  const hc: HuginnContext = { ctx, c, rope: adjacentRopeTables(ctx, c.headDim) };
  let l = 0; // unrolled block index: hook points and KV cache number
  let x = g.scoped('embed', () => {
    const rows = g.op('Gather', [g.weight('embed'), inputIds], { axis: 0 });
    return c.embedScale === 1 ? rows : g.op('Mul', [rows, g.scalarF32(c.embedScale)]);
  });
  for (let i = 0; i < c.nPrelude; i++) x = g.scoped(`prelude${i}`, () => sandwichBlock(hc, blockKey('prelude', i), l++, x));
  const injected = x;

  let s = g.scoped('state_init', () =>
    opts.stateInit === 'random'
      ? // position_ids is a graph input (declared by beginForward): one table row per position.
        g.op('Gather', [g.weight('state_init'), 'position_ids'], { axis: 0 })
      : g.op('Expand', [g.scalarF32(0), g.op('Shape', [injected])]),
  );
  for (let r = 0; r < opts.numSteps; r++) {
    s = g.scoped(`recurrence${r}`, () => {
      let h = g.scoped('adapter', () => {
        const y = g.op('MatMul', [g.op('Concat', [s, injected], { axis: -1 }), g.weight('adapter')]);
        return c.adapterBias ? g.op('Add', [y, g.weight('adapter_bias')]) : y;
      });
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
  const final = x;
  lmHead(ctx, final, g.scoped('ln_f', () => rmsNorm(g, final, g.weight('ln_f'), c.rmsNormEps)), c.tiedEmbeddings ? 'embed' : 'lm_head', c.vocabSize);
  return g.encode(`LayerLab instrumented huginn_raven decoder (num_steps ${opts.numSteps}, state ${opts.stateInit}) for ${source}`);
}

interface HuginnContext {
  ctx: ForwardContext;
  c: HuginnConfig;
  rope: { cos: string; sin: string };
}

/*
 * Node count matters here: ONNX Runtime's session set-up grows faster than linearly with the
 * number of nodes (its allocation planner), and num_steps 32 unrolls 132 blocks. Built from the
 * generic layers.ts pieces (~88 nodes a block) the tiny model's 32-step session took 18.5 s to
 * create on 2 cores; with the pieces below (~45 nodes a block after ORT's fusions) 2.8 s:
 * RMSNorm in the exact form ORT fuses into one SimplifiedLayerNormalization, and one RoPE over
 * the stacked q|k heads using rotation tables built once per pass.
 */

/** `x / sqrt(mean(x²) + eps) * w`, in the exact pattern ORT's SimplifiedLayerNormFusion matches. */
function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  return g.scoped('rmsnorm', () => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, g.scalarF32(2)])], { axes: [-1], keepdims: 1 });
    return g.op('Mul', [g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, g.scalarF32(eps)])])]), weight]);
  });
}

/**
 * Per-dimension tables for rotating adjacent pairs, [B,S,1,hd] each: C = (c₀,c₀,c₁,c₁,…) and
 * S = (−s₀,s₀,−s₁,s₁,…), so that rope(x) = x·C + swap(x)·S with swap exchanging each pair:
 * out[2i] = x[2i]·cᵢ − x[2i+1]·sᵢ, out[2i+1] = x[2i+1]·cᵢ + x[2i]·sᵢ.
 */
function adjacentRopeTables(ctx: ForwardContext, headDim: number): { cos: string; sin: string } {
  const { g, rope } = ctx;
  return g.scoped('rope_tables', () => {
    const shape = g.constI64([0, 0, 1, headDim]);
    const cos = g.op('Unsqueeze', [rope.cos, g.constI64([-1])]); // [B,S,1,half,1]
    const sin = g.op('Unsqueeze', [rope.sin, g.constI64([-1])]);
    return {
      cos: g.op('Reshape', [g.op('Concat', [cos, cos], { axis: -1 }), shape]),
      sin: g.op('Reshape', [g.op('Concat', [g.op('Neg', [sin]), sin], { axis: -1 }), shape]),
    };
  });
}

/** x [B,S,heads,hd] rotated by position, adjacent pairs. */
function ropeAdjacent(hc: HuginnContext, x: string, heads: number): string {
  const { g } = hc.ctx;
  const hd = hc.c.headDim;
  return g.scoped('rope', () => {
    const pairs = g.op('Reshape', [x, g.constI64([0, 0, heads, hd / 2, 2])]);
    const swapped = g.op('Reshape', [g.op('Gather', [pairs, g.constI64([1, 0])], { axis: -1 }), g.constI64([0, 0, heads, hd])]);
    return g.op('Add', [g.op('Mul', [x, hc.rope.cos]), g.op('Mul', [swapped, hc.rope.sin])]);
  });
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
 * One Wqkv MatMul; q and k stay stacked as 2H heads (as the original rotates cat[q, k]) for the
 * qk bias and one RoPE, then split for attention over KV cache `l`; then proj.
 */
function fusedAttention(hc: HuginnContext, k: string, h: string, l: number): string {
  const { ctx, c } = hc;
  const { g } = ctx;
  const { nHeads, headDim } = c;
  return g.scoped('attn', () => {
    // [B,S,3H,hd]: heads 0..H−1 are q, H..2H−1 are k, 2H..3H−1 are v (nKvHeads = nHeads).
    const heads = g.op('Reshape', [g.op('MatMul', [h, g.weight(`${k}.wqkv`)]), g.constI64([0, 0, 3 * nHeads, headDim])]);
    const [qk, v] = g.opN('Split', [heads, g.constI64([2 * nHeads, nHeads])], 2, { axis: 2 });
    const biased = c.qkBias ? g.op('Add', [qk, g.weight(`${k}.qk_bias`)]) : qk;
    const [q, key] = g.opN('Split', [ropeAdjacent(hc, biased, 2 * nHeads), g.constI64([nHeads, nHeads])], 2, { axis: 2 });
    const y = attentionCore(ctx, q, key, v, { nHeads, nKvHeads: nHeads, headDim }, l, 1);
    return g.op('MatMul', [y, g.weight(`${k}.proj`)]);
  });
}

/** `proj(silu(a) * b)` where `fc` produces a | b. */
function gatedMlp(g: GraphBuilder, c: HuginnConfig, k: string, h: string): string {
  return g.scoped('mlp', () => {
    const [a, b] = g.opN('Split', [g.op('MatMul', [h, g.weight(`${k}.fc`)]), g.constI64([c.dFF, c.dFF])], 2, { axis: -1 });
    return g.op('MatMul', [g.op('Mul', [g.op('Mul', [a, g.op('Sigmoid', [a])]), b]), g.weight(`${k}.mlp_proj`)]);
  });
}
