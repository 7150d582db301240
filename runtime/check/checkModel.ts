/**
 * check-model: is LayerLab's graph of *this* checkpoint right? A fixed set of prompts runs through
 * the instrumented graph and through the independent plain-TypeScript reference forward
 * (runtime/reference, which shares no code with the graph builders), and, for weights other than
 * fp32, through the fp32 graph as well. Per block it reports the largest relative difference of
 * the hook points; for the next token, top-1 agreement and the mean KL divergence; each comparison
 * gets a verdict against the thresholds below.
 *
 * What it catches: a graph that does not compute what the checkpoint says (a conversion or builder
 * bug, a damaged cached weights file, an unsupported architecture detail) and non-finite values.
 * What it cannot catch: a checkpoint that is wrong in itself, since the reference reads the same
 * tensors.
 *
 * Memory: one model is held at a time. Each graph runs and is released before the next, and the
 * reference reads one block's weights at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WeightPrecision } from '../../models/graph/weights';
import type { ModelOptions } from '../../models/load';
import { llamaReference } from '../reference/llamaForward';
import { huginnReference } from '../reference/huginnForward';
import { openModel, type OpenedModel } from '../openModel';
import type { ProviderPreference } from '../ort/session';
import { CancelledError } from '../generate';

/** Short prompts of different kinds (prose, code, arithmetic, other scripts), run with BOS. */
export const CHECK_PROMPTS: readonly string[] = [
  'The capital of France is',
  'def fibonacci(n):\n    if n < 2:\n        return n\n    return',
  'Q: What is 17 + 25?\nA:',
  'Der schnelle braune Fuchs springt über den faulen Hund. 東京は日本の',
];

/**
 * When two next-token distributions agree. The reference and the fp32 graph differ by float
 * rounding only (1e-5 relative on the tests' models), so their thresholds leave two orders of
 * magnitude of room and no disagreement on the top token; a position whose top two reference
 * logits lie within TIE_MARGIN is a tie and not counted. Quantized weights change the model on
 * purpose: their thresholds are what makes a precision usable for LayerLab's measurements on a
 * trained model (accuracy effects of interventions are several points; these keep the next-token
 * distribution within a fraction of that).
 */
export const CHECK_THRESHOLDS = {
  reference: { maxRelativeHookDiff: 1e-3, minTop1Agreement: 1, maxMeanKl: 1e-6 },
  fp16: { minTop1Agreement: 0.95, maxMeanKl: 1e-3 },
  int8: { minTop1Agreement: 0.9, maxMeanKl: 1e-2 },
  int4: { minTop1Agreement: 0.8, maxMeanKl: 0.1 },
} as const;
export const TIE_MARGIN = 1e-3;

export interface CheckModelOptions {
  model: string;
  tokenizer?: string;
  /** Precision to check (default fp32); other than fp32 it is also compared with the fp32 graph. */
  weights?: WeightPrecision;
  provider?: ProviderPreference;
  threads?: number;
  graphCacheDir?: string;
  /**
   * Architecture options. huginn defaults to num_steps 4 here: every weight and operation is the
   * same at any num_steps, and the plain TypeScript reference takes minutes per token at 32.
   */
  modelOptions?: ModelOptions;
  prompts?: readonly string[];
  /** Tokens per prompt at most (default 32). */
  maxTokens?: number;
}

export interface CheckModelContext {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, message: string) => void;
  log?: (msg: string) => void;
}

export interface BlockDiff {
  block: number;
  label: string;
  /** Largest ‖a − b‖∞ / ‖b‖∞ over both hook points of the block, every prompt and position. */
  maxRelativeDiff: number;
  worstHook: string;
}

export interface NextTokenAgreement {
  positions: number;
  /** Fraction of positions (ties excluded) where both put the same token first. */
  top1Agreement: number;
  /** Positions where the baseline's top two logits lie within TIE_MARGIN. */
  ties: number;
  /** Mean and largest KL(baseline ‖ subject) of the next-token distributions, in nats. */
  meanKl: number;
  maxKl: number;
}

export interface CheckComparison {
  /** What was checked against what, e.g. `fp32 graph` vs `reference forward`. */
  subject: string;
  baseline: string;
  thresholds: { maxRelativeHookDiff?: number; minTop1Agreement: number; maxMeanKl: number };
  blocks: BlockDiff[];
  nextToken: NextTokenAgreement;
  /** Where a non-finite value first appeared, when one did. */
  nonFinite?: string;
  verdict: 'pass' | 'fail';
  reasons: string[];
}

/** A plain, JSON-serialisable report. */
export interface CheckModelReport {
  model: { path: string; format: string; modelType: string; contentHash: string; nBlocks: number; options: Record<string, unknown>; weights: WeightPrecision; provider: string; providerNote?: string };
  prompts: { text: string; tokens: number }[];
  comparisons: CheckComparison[];
  verdict: 'pass' | 'fail';
  seconds: number;
}

/** Every hook point at every position and the logits at every position, for each prompt. */
interface Run {
  /** [prompt][hook index 2l + (post ? 1 : 0)][position] → vector. */
  hooks: Float32Array[][][];
  /** [prompt][position] → logits. */
  logits: Float32Array[][];
}

export async function checkModel(opts: CheckModelOptions, ctx: CheckModelContext = {}): Promise<CheckModelReport> {
  const t0 = Date.now();
  const log = ctx.log ?? (() => {});
  const weights = opts.weights ?? 'fp32';
  const cancelled = () => {
    if (ctx.signal?.aborted) throw new CancelledError();
  };
  const open = (precision: WeightPrecision) =>
    openModel(opts.model, {
      tokenizer: opts.tokenizer,
      provider: opts.provider,
      threads: opts.threads,
      graphCacheDir: opts.graphCacheDir,
      weights: precision,
      modelOptions: opts.modelOptions ?? defaultOptions(opts.model),
      log,
    });

  // The fp32 graph first: it names the prompts' tokens and the model's shape.
  const graphs: WeightPrecision[] = weights === 'fp32' ? ['fp32'] : ['fp32', weights];
  const runs = new Map<WeightPrecision, Run>();
  let described: Pick<CheckModelReport, 'model' | 'prompts'> | undefined;
  let prompts: number[][] = [];
  let opened: OpenedModel | undefined;
  let nBlocks = 0;
  let steps = 0;
  let totalSteps = 0;
  const progress = (message: string) => ctx.onProgress?.(++steps, totalSteps, message);
  for (const precision of graphs) {
    cancelled();
    opened = await open(precision);
    try {
      if (!described) {
        const tok = opened.tokenizer;
        prompts = (opts.prompts ?? CHECK_PROMPTS).map((p) => tok.encode(p, { addBos: true }).slice(0, opts.maxTokens ?? 32));
        const spec = opened.model.spec;
        nBlocks = spec.nBlocks;
        totalSteps = graphs.length * prompts.length + prompts.length * nBlocks;
        described = {
          model: {
            path: opened.checkpoint.path,
            format: opened.checkpoint.format,
            modelType: spec.modelType,
            contentHash: spec.contentHash,
            nBlocks,
            options: { ...spec.options },
            weights,
            provider: opened.model.provider.provider,
            ...(opened.model.provider.note ? { providerNote: opened.model.provider.note } : {}),
          },
          prompts: prompts.map((ids, i) => ({ text: (opts.prompts ?? CHECK_PROMPTS)[i], tokens: ids.length })),
        };
      }
      const run: Run = { hooks: [], logits: [] };
      for (const ids of prompts) {
        cancelled();
        progress(`${precision} graph: prompt ${run.hooks.length + 1} of ${prompts.length}`);
        const reads = Array.from({ length: 2 * nBlocks }, (_, h) => ({ hook: hookOf(h), positions: 'all' as const }));
        const r = await opened.model.forward([ids], undefined, { reads, allLogits: true });
        run.hooks.push(reads.map(({ hook }) => split(r.reads.get(hook)![0], ids.length)));
        run.logits.push(split(r.logits[0], ids.length));
      }
      runs.set(precision, run);
    } finally {
      await opened.model.release();
    }
  }

  // The reference reads the checkpoint a block at a time; no graph is open meanwhile.
  const tensors = opened!.checkpoint.tensors();
  const options = described!.model.options;
  const reference: Run = { hooks: [], logits: [] };
  for (const [i, ids] of prompts.entries()) {
    const onBlock = (block: number, of: number) => {
      cancelled();
      progress(`reference forward: prompt ${i + 1} of ${prompts.length}, block ${block + 1} of ${of}`);
    };
    const r =
      tensors.family === 'llama'
        ? llamaReference(tensors.config, tensors.read, ids, { onBlock })
        : huginnReference(tensors.config, tensors.read, ids, {
            numSteps: Number(options.num_steps),
            stateInit: options.state_init === 'random' ? 'random' : 'zeros',
            stateSeed: options.state_seed === undefined ? undefined : Number(options.state_seed),
            onBlock,
          });
    reference.hooks.push(Array.from({ length: 2 * nBlocks }, (_, h) => (h % 2 ? r.residPost : r.residPre)[h >> 1]));
    reference.logits.push(r.logits);
  }

  const blockLabel = (l: number) => `blocks.${l}`;
  const comparisons: CheckComparison[] = [compare('fp32 graph', 'reference forward', runs.get('fp32')!, reference, CHECK_THRESHOLDS.reference, nBlocks, blockLabel)];
  if (weights !== 'fp32') comparisons.push(compare(`${weights} graph`, 'fp32 graph', runs.get(weights)!, runs.get('fp32')!, CHECK_THRESHOLDS[weights], nBlocks, blockLabel));
  return {
    ...described!,
    comparisons,
    verdict: comparisons.every((c) => c.verdict === 'pass') ? 'pass' : 'fail',
    seconds: (Date.now() - t0) / 1000,
  };
}

function defaultOptions(model: string): ModelOptions | undefined {
  // Only recurrent-depth models take options; loadCheckpoint refuses them for others.
  try {
    const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')) as { model_type?: string };
    return config.model_type === 'huginn_raven' ? { numSteps: 4 } : undefined;
  } catch {
    return undefined;
  }
}

function hookOf(h: number): string {
  return `blocks.${h >> 1}.${h % 2 ? 'hook_resid_post' : 'hook_resid_pre'}`;
}

function split(flat: Float32Array, n: number): Float32Array[] {
  const w = flat.length / n;
  return Array.from({ length: n }, (_, t) => flat.subarray(t * w, (t + 1) * w));
}

function compare(
  subject: string,
  baseline: string,
  got: Run,
  want: Run,
  thresholds: { maxRelativeHookDiff?: number; minTop1Agreement: number; maxMeanKl: number },
  nBlocks: number,
  label: (l: number) => string,
): CheckComparison {
  let nonFinite: string | undefined;
  const blocks: BlockDiff[] = [];
  for (let l = 0; l < nBlocks; l++) {
    let worst = 0;
    let worstHook = hookOf(2 * l);
    for (const h of [2 * l, 2 * l + 1]) {
      got.hooks.forEach((prompt, p) => {
        prompt[h].forEach((a, t) => {
          const b = want.hooks[p][h][t];
          if (!nonFinite && (!allFinite(a) || !allFinite(b))) nonFinite = `${hookOf(h)} (${!allFinite(a) ? subject : baseline}), prompt ${p + 1}, position ${t}`;
          const rel = maxAbsDiff(a, b) / Math.max(maxAbs(b), 1e-30);
          if (!(rel <= worst)) {
            worst = rel;
            worstHook = hookOf(h);
          }
        });
      });
    }
    blocks.push({ block: l, label: label(l), maxRelativeDiff: worst, worstHook });
  }

  let positions = 0;
  let agree = 0;
  let ties = 0;
  let klSum = 0;
  let maxKl = 0;
  got.logits.forEach((prompt, p) =>
    prompt.forEach((a, t) => {
      const b = want.logits[p][t];
      if (!nonFinite && (!allFinite(a) || !allFinite(b))) nonFinite = `logits (${!allFinite(a) ? subject : baseline}), prompt ${p + 1}, position ${t}`;
      positions++;
      const [first, second] = topTwo(b);
      if (b[first] - b[second] < TIE_MARGIN) ties++;
      else if (topTwo(a)[0] === first) agree++;
      const kl = klDivergence(b, a);
      klSum += kl;
      maxKl = Math.max(maxKl, kl);
    }),
  );
  const decided = positions - ties;
  const nextToken: NextTokenAgreement = { positions, top1Agreement: decided ? agree / decided : 1, ties, meanKl: klSum / positions, maxKl };

  const reasons: string[] = [];
  if (nonFinite) reasons.push(`non-finite values first at ${nonFinite}`);
  if (thresholds.maxRelativeHookDiff !== undefined) {
    const over = blocks.find((b) => !(b.maxRelativeDiff <= thresholds.maxRelativeHookDiff!));
    if (over) reasons.push(`${over.worstHook} differs by ${fmt(over.maxRelativeDiff)} (relative; threshold ${fmt(thresholds.maxRelativeHookDiff)}): the first block that does`);
  }
  if (!(nextToken.top1Agreement >= thresholds.minTop1Agreement)) reasons.push(`top-1 agreement ${(nextToken.top1Agreement * 100).toFixed(1)}% < ${thresholds.minTop1Agreement * 100}%`);
  if (!(nextToken.meanKl <= thresholds.maxMeanKl)) reasons.push(`mean KL ${fmt(nextToken.meanKl)} > ${fmt(thresholds.maxMeanKl)}`);
  return { subject, baseline, thresholds, blocks, nextToken, ...(nonFinite ? { nonFinite } : {}), verdict: reasons.length ? 'fail' : 'pass', reasons };
}

function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

function topTwo(v: Float32Array): [number, number] {
  let first = 0;
  let second = v.length > 1 ? 1 : 0;
  if (v[second] > v[first]) [first, second] = [second, first];
  for (let i = 2; i < v.length; i++) {
    if (v[i] > v[first]) [first, second] = [i, first];
    else if (v[i] > v[second]) second = i;
  }
  return [first, second];
}

/** KL(p ‖ q) in nats for p = softmax(pLogits), q = softmax(qLogits), in float64. */
function klDivergence(pLogits: Float32Array, qLogits: Float32Array): number {
  const logSoftmax = (v: Float32Array) => {
    let max = -Infinity;
    for (const x of v) max = Math.max(max, x);
    let sum = 0;
    for (const x of v) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    return Float64Array.from(v, (x) => x - lse);
  };
  const lp = logSoftmax(pLogits);
  const lq = logSoftmax(qLogits);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
  return Math.max(0, kl);
}

function fmt(x: number): string {
  return x === 0 ? '0' : Math.abs(x) >= 0.01 && Math.abs(x) < 1000 ? x.toFixed(3) : x.toExponential(2);
}

/** The report as Markdown: one section per comparison, its verdict first, then the blocks. */
export function formatCheckReport(r: CheckModelReport): string {
  const out: string[] = [];
  const opts = Object.keys(r.model.options).length ? ` ${JSON.stringify(r.model.options)}` : '';
  out.push(`# check-model: ${r.verdict === 'pass' ? 'PASS' : 'FAIL'}`);
  out.push('');
  out.push(`- model: \`${r.model.path}\` (${r.model.format}, ${r.model.modelType}, ${r.model.nBlocks} blocks${opts})`);
  out.push(`- content hash: \`${r.model.contentHash.slice(0, 16)}…\`; weights ${r.model.weights}; provider ${r.model.provider}${r.model.providerNote ? ` (${r.model.providerNote})` : ''}`);
  out.push(`- prompts: ${r.prompts.map((p) => `${JSON.stringify(p.text.length > 40 ? p.text.slice(0, 40) + '…' : p.text)} (${p.tokens} tokens)`).join('; ')}`);
  out.push(`- ${r.seconds.toFixed(1)} s`);
  for (const c of r.comparisons) {
    out.push('');
    out.push(`## ${c.subject} vs ${c.baseline}: ${c.verdict === 'pass' ? 'pass' : 'FAIL'}`);
    out.push('');
    for (const reason of c.reasons) out.push(`- ${reason}`);
    const n = c.nextToken;
    const th = c.thresholds;
    out.push(`- next token over ${n.positions} positions: top-1 agreement ${(n.top1Agreement * 100).toFixed(1)}% (threshold ≥ ${th.minTop1Agreement * 100}%${n.ties ? `, ${n.ties} ties not counted` : ''}), mean KL ${fmt(n.meanKl)} (≤ ${fmt(th.maxMeanKl)}), max KL ${fmt(n.maxKl)}`);
    out.push('');
    out.push(`| block | largest relative hook difference${th.maxRelativeHookDiff !== undefined ? ` (≤ ${fmt(th.maxRelativeHookDiff)})` : ''} | at |`);
    out.push('|---|---|---|');
    for (const b of c.blocks) out.push(`| ${b.block} | ${fmt(b.maxRelativeDiff)} | ${b.worstHook} |`);
  }
  return out.join('\n') + '\n';
}
