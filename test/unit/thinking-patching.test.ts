/**
 * Layer selection by causal effect (runtime/thinking/patching.ts) on a random Llama, against
 * computations that share nothing with it:
 *  - a zero coefficient changes no logit at all (bit-identical), so every exact effect is 0;
 *  - exact patching equals the plain-TypeScript reference forward pass with the vector added at
 *    that hook and position (runtime/reference/llamaForward.ts), at several hooks, for rows of two
 *    chains left-padded into one batch;
 *  - batched passes give what one position at a time gives;
 *  - the finite-difference estimate converges to the analytic derivative with error O(h²) (the
 *    derivatives of the last block's output are written out by hand below: final RMSNorm and the
 *    tied unembedding), for the logprob metric (first order) and the KL metric (second order).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildInstrumentedModel, llamaRecipe } from '../../models/graph/build';
import { InstrumentedModel } from '../../runtime/model';
import type { Chain, Span } from '../../runtime/protocol/thinking';
import { batchPast, categoryEffects, ChainKv, chunkRows, klDivergence, logSoftmax, patchRows, ranks, spearman, topK, type PatchRow } from '../../runtime/thinking/patching';
import { randomLlama } from '../helpers/randomLlama';
import { tmpDir } from '../helpers/tmp';
import { referenceForward } from '../../runtime/reference/llamaForward';

const ckpt = randomLlama({ nLayers: 3, vocabSize: 60 }, 11);
const c = ckpt.config;
const d = c.dModel;

function chainOf(id: string, ids: number[], promptLen: number): Chain {
  const gen = ids.slice(promptLen);
  // One character per generated token: offsets are only used to find spans' tokens.
  return { id, task: id, category: 't', prompt: '', prompt_ids: ids.slice(0, promptLen), ids: gen, text: 'x'.repeat(gen.length), offsets: gen.map((_, i) => [i, i + 1]), stop_reason: 'max-new-tokens' };
}

const CHAINS = [chainOf('a', [1, 7, 3, 22, 9, 41, 5, 12, 30, 8, 17], 3), chainOf('b', [1, 4, 44, 2, 19, 27, 33, 6, 50], 2)];
/** Rows of different lengths in both chains, so that one batch needs left padding. */
const ROWS: PatchRow[] = [
  { chain: 0, pos: 2, next: 22 },
  { chain: 0, pos: 6, next: 12 },
  { chain: 0, pos: 9, next: 17 },
  { chain: 1, pos: 1, next: 44 },
  { chain: 1, pos: 5, next: 33 },
];

function vector(seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: d }, (_, i) => scale * Math.sin(seed * 1.3 + i * 0.71));
}

const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post'];
const VECTORS = HOOKS.map((_, h) => vector(h + 1, 0.9));
const OPTS = { coefficient: 1, fdStep: 0.05, batchRows: 64, batchBytes: 1 << 30 };

let model: InstrumentedModel;
before(async () => {
  model = await InstrumentedModel.load(buildInstrumentedModel(llamaRecipe(ckpt), tmpDir('layerlab-patch-graphs-')), { provider: 'cpu', threads: 1 });
});
after(async () => model.release());

/** The reference's log-probabilities after position `pos` of `ids`, with `add` at (hook, pos). */
function refLogprobs(ids: number[], pos: number, hook?: string, add?: Float32Array): Float64Array {
  const edits = [];
  if (hook && add) {
    const m = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(hook)!;
    edits.push({ block: Number(m[1]), kind: m[2] as 'pre' | 'post', position: pos, add });
  }
  const r = referenceForward(ckpt, ids.slice(0, pos + 1), { edits });
  return logSoftmax(r.logits[pos]!);
}

const full = (ch: Chain) => [...ch.prompt_ids, ...ch.ids];

describe('exact patching', () => {
  test('a zero coefficient leaves every logit bit-identical, so every exact effect is exactly 0', async () => {
    const past = await batchPast(ROWS, new ChainKv(model, CHAINS), c.nLayers);
    const tokens = ROWS.map((r) => [full(CHAINS[r.chain]!)[r.pos]!]);
    const clean = await model.forward(tokens, past);
    for (const hook of HOOKS) {
      const zero = await model.forward(tokens, past, { edits: [{ hook, add: new Float32Array(d) }], editPositions: 'all' });
      zero.logits.forEach((l, b) => assert.ok(Buffer.from(l.buffer, l.byteOffset, l.byteLength).equals(Buffer.from(clean.logits[b]!.buffer, clean.logits[b]!.byteOffset, clean.logits[b]!.byteLength)), `${hook} row ${b}`));
    }
    const eff = await categoryEffects(model, CHAINS, new ChainKv(model, CHAINS), ROWS, HOOKS, VECTORS, { ...OPTS, metric: 'kl', coefficient: 0 });
    for (const e of eff.exact) assert.deepEqual([...e], ROWS.map(() => 0));
    // Not vacuous: the same vectors at coefficient 1 change every row.
    const one = await categoryEffects(model, CHAINS, new ChainKv(model, CHAINS), ROWS, HOOKS, VECTORS, { ...OPTS, metric: 'kl' });
    for (const e of one.exact) assert.ok(e.every((x) => x > 1e-6), `${[...e]}`);
  });

  for (const metric of ['kl', 'logprob'] as const) {
    test(`equals the reference forward pass with the vector added (${metric}, 1e-5)`, async () => {
      const eff = await categoryEffects(model, CHAINS, new ChainKv(model, CHAINS), ROWS, HOOKS, VECTORS, { ...OPTS, metric, coefficient: 1.5 });
      HOOKS.forEach((hook, h) => {
        ROWS.forEach((r, k) => {
          const ids = full(CHAINS[r.chain]!);
          const p = refLogprobs(ids, r.pos);
          const q = refLogprobs(ids, r.pos, hook, Float32Array.from(VECTORS[h]!, (x) => 1.5 * x));
          const want = metric === 'kl' ? klDivergence(p, q) : q[r.next]! - p[r.next]!;
          const got = eff.exact[h]![k]!;
          assert.ok(Math.abs(got - want) <= 1e-5 + 1e-3 * Math.abs(want), `${hook} row ${k}: ${got} vs reference ${want}`);
        });
      });
    });
  }

  test('batched passes equal one position at a time, and any chunking', async () => {
    const run = (batchRows: number, batchBytes: number) => categoryEffects(model, CHAINS, new ChainKv(model, CHAINS), ROWS, HOOKS, VECTORS, { ...OPTS, metric: 'kl', batchRows, batchBytes });
    const one = await run(1, 1 << 30);
    assert.equal(one.passes, ROWS.length * (1 + 3 * HOOKS.length));
    const batched = await run(64, 1 << 30);
    assert.equal(batched.passes, 1 + 3 * HOOKS.length, 'one batch: one clean pass, three per hook');
    const bytesPerPosition = 2 * c.nLayers * c.nKvHeads * c.headDim * 4;
    const small = await run(64, 3 * 8 * bytesPerPosition);
    assert.ok(small.passes > batched.passes && small.passes < one.passes, `${small.passes} passes`);
    for (const other of [batched, small]) {
      for (let h = 0; h < HOOKS.length; h++) {
        for (let k = 0; k < ROWS.length; k++) {
          // Padding changes float32 rounding (as in every padded batch, 1e-5); the KL estimate divides by h², so allows more.
          for (const [what, tol] of [['exact', 1e-5], ['estimate', 1e-4]] as const) {
            const a = one[what][h]![k]!;
            const b = other[what][h]![k]!;
            assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(a)), `${what} ${HOOKS[h]} row ${k}: ${a} vs ${b}`);
          }
        }
      }
    }
  });

  test('chunks respect both limits', () => {
    const rows = [5, 9, 2, 30, 31, 1].map((pos, i) => ({ chain: i, pos, next: 0 }));
    assert.deepEqual(chunkRows(rows, { batchRows: 2, batchBytes: 1e9 }, 1).map((c) => c.map((r) => r.pos)), [[5, 9], [2, 30], [31, 1]]);
    // 100 bytes at 1 byte per position: rows × longest position ≤ 100 (4 × 30 is not).
    assert.deepEqual(chunkRows(rows, { batchRows: 99, batchBytes: 100 }, 1).map((c) => c.map((r) => r.pos)), [[5, 9, 2], [30, 31, 1]]);
  });
});

describe('the finite-difference estimate', () => {
  /**
   * At the last block's output x the next-token log-probabilities are log softmax(E · (g ⊙ y/r)),
   * y = x + a·u, r = sqrt(mean(y²) + eps). With dn = g ⊙ (u/r − y (y·u)/(d r³)) and dz = E·dn:
   *   d/da log q_t |0 = dz_t − Σ p_i dz_i,    d²/da² KL(p ‖ q) |0 = Σ p_i dz_i² − (Σ p_i dz_i)².
   */
  function analytic(ids: number[], pos: number, next: number, u: Float32Array): { d1: number; d2: number } {
    const L = c.nLayers - 1;
    const x = Array.from(referenceForward(ckpt, ids.slice(0, pos + 1)).residPost[L]![pos]!, Number);
    const g = ckpt.weights.finalNorm.data;
    const E = ckpt.weights.embed.data;
    const ss = x.reduce((s, v) => s + v * v, 0);
    const r = Math.sqrt(ss / d + c.rmsNormEps);
    const yu = x.reduce((s, v, j) => s + v * u[j]!, 0);
    const n = x.map((v, j) => (g[j]! * v) / r);
    const dn = x.map((v, j) => g[j]! * (u[j]! / r - (v * yu) / (d * r ** 3)));
    const z = Array.from({ length: c.vocabSize }, (_, k) => n.reduce((s, v, j) => s + v * E[k * d + j]!, 0));
    const dz = Array.from({ length: c.vocabSize }, (_, k) => dn.reduce((s, v, j) => s + v * E[k * d + j]!, 0));
    const m = Math.max(...z);
    const w = z.map((v) => Math.exp(v - m));
    const sum = w.reduce((a, b) => a + b, 0);
    const p = w.map((v) => v / sum);
    const mean = p.reduce((s, pi, i) => s + pi * dz[i]!, 0);
    return { d1: dz[next]! - mean, d2: p.reduce((s, pi, i) => s + pi * dz[i]! ** 2, 0) - mean ** 2 };
  }

  /** Slope of log(error) against log(h): the order of convergence. */
  function order(hs: number[], errs: number[]): number {
    const X = hs.map(Math.log);
    const Y = errs.map(Math.log);
    const mx = X.reduce((a, b) => a + b, 0) / X.length;
    const my = Y.reduce((a, b) => a + b, 0) / Y.length;
    return X.reduce((s, x, i) => s + (x - mx) * (Y[i]! - my), 0) / X.reduce((s, x) => s + (x - mx) ** 2, 0);
  }

  const hs = [0.4, 0.2, 0.1, 0.05];
  const hook = `blocks.${c.nLayers - 1}.hook_resid_post`;
  const u = vector(7, 0.8);
  const rows = [ROWS[1]!, ROWS[4]!];

  for (const metric of ['logprob', 'kl'] as const) {
    test(`converges to the analytic derivative with error O(h²) (${metric})`, async () => {
      for (const [k, row] of rows.entries()) {
        const ids = full(CHAINS[row.chain]!);
        const a = analytic(ids, row.pos, row.next, u);
        // logprob: the first-order term at coefficient 1; kl: the second-order term, ½·KL''.
        const truth = metric === 'logprob' ? a.d1 : a.d2 / 2;
        const errs: number[] = [];
        for (const h of hs) {
          const eff = await categoryEffects(model, CHAINS, new ChainKv(model, CHAINS), [row], [hook], [u], { ...OPTS, metric, fdStep: h });
          errs.push(Math.abs(eff.estimate[0]![0]! - truth));
        }
        const p = order(hs, errs);
        assert.ok(p > 1.8 && p < 2.3, `row ${k}: order ${p.toFixed(2)} (errors ${errs.map((e) => e.toExponential(2)).join(', ')})`);
        assert.ok(errs.at(-1)! < 1e-2 * Math.abs(truth), `row ${k}: the smallest step is within 1% (${errs.at(-1)} of ${truth})`);
      }
    });
  }
});

describe('positions, ranks and selection', () => {
  test('the position patched is the token before each span (the last prompt token for a span at the start), once per chain', () => {
    const spans: Span[] = [
      { chain: 'a', start: 0, end: 2, category: 'deduction' },
      { chain: 'a', start: 4, end: 6, category: 'deduction' },
      { chain: 'a', start: 4, end: 6, category: 'backtracking' },
      { chain: 'b', start: 3, end: 4, category: 'deduction' },
    ];
    assert.deepEqual(patchRows(CHAINS, spans, 'deduction'), [
      { chain: 0, pos: 2, next: 22 },
      { chain: 0, pos: 6, next: 12 },
      { chain: 1, pos: 4, next: 27 },
    ]);
    assert.deepEqual(patchRows(CHAINS, spans, 'backtracking'), [{ chain: 0, pos: 6, next: 12 }]);
  });

  test('Spearman, ranks with ties and top-k, by hand', () => {
    assert.deepEqual(ranks([10, 30, 20, 20]), [1, 4, 2.5, 2.5]);
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
    // d = (0, 1, −1, 0): ρ = 1 − 6·2/(4·15) = 0.8 (no ties).
    assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 3, 2, 4])! - 0.8) < 1e-12);
    assert.equal(spearman([1, 1, 1], [1, 2, 3]), null);
    assert.equal(spearman([1], [1]), null);
    assert.deepEqual(topK([0.1, 0.5, NaN, 0.5, 0.3], 3), [1, 3, 4]);
  });
});
