/**
 * Weight precisions: the block quantizer against hand-computed values and its error bound; the
 * int8 and int4 graphs (MatMulNBits, GatherBlockQuantized) against the independent reference
 * forward run on the same dequantized weights; greedy ids of int8/int4 next to fp32, reported and
 * not asserted (quantization may change them); and the requests that cannot be served refused
 * before anything is written.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildInstrumentedModel, huginnRecipe, llamaRecipe, writeGraphForm, type GraphRecipe } from '../../models/graph/build';
import { dequantizeBlockwise, quantizeBlockwise, QUANT_BLOCK, type WeightPrecision } from '../../models/graph/weights';
import { allHookNames } from '../../models/graph/spec';
import { writeTinyHuginn } from '../../models/huginn/demo';
import { readHuginnCheckpoint, type HuginnBlockWeights, type HuginnCheckpoint } from '../../models/huginn/checkpoint';
import { writeDemoModel } from '../../models/demo';
import type { LlamaCheckpoint, Tensor } from '../../models/checkpoint';
import { InstrumentedModel } from '../../runtime/model';
import { generateGreedy } from '../../runtime/generate';
import { ModelOpenError, openModel, PEAK_MEMORY_FACTOR, RUNTIME_OVERHEAD_BYTES } from '../../runtime/openModel';
import { estimateWeightBytes } from '../../models/graph/weights';
import { loadCheckpoint } from '../../models/load';
import { referenceForward } from '../../runtime/reference/llamaForward';
import { huginnReferenceForward } from '../../runtime/reference/huginnForward';
import { randomLlama } from '../helpers/randomLlama';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-precision-');

describe('block quantization', () => {
  test('4-bit and 8-bit codes and scales equal hand-computed values', () => {
    // Block [1, −2, 0.5, 4]: the value of largest magnitude is 4, so s = 4 / −8 = −0.5 (int4) and
    // 4 / −128 = −0.03125 (int8); q = round(w / s) + zero point.
    const row = Float32Array.from([1, -2, 0.5, 4]);
    const q4 = quantizeBlockwise(row, 1, 4, 4, 4);
    assert.deepEqual([...q4.scales], [-0.5]);
    // q = [−2, 4, −1, −8] + 8 = [6, 12, 7, 0], two to a byte, even element in the low nibble.
    assert.deepEqual([...q4.data], [6 | (12 << 4), 7 | (0 << 4)]);
    assert.deepEqual([...dequantizeBlockwise(q4, 1, 4, 4, 4)], [1, -2, 0.5, 4]);
    const q8 = quantizeBlockwise(row, 1, 4, 8, 4);
    assert.deepEqual([...q8.scales], [-0.03125]);
    assert.deepEqual([...q8.data], [-32 + 128, 64 + 128, -16 + 128, -128 + 128]);
  });

  test('every value is within half a step of its block scale (a whole step where the top code saturates), including a zero-padded last block', () => {
    const rows = 3;
    const cols = 2 * QUANT_BLOCK + 5;
    const m = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 11)));
    for (const bits of [4, 8] as const) {
      const q = quantizeBlockwise(m, rows, cols, bits, QUANT_BLOCK);
      assert.equal(q.scales.length, rows * 3);
      const back = dequantizeBlockwise(q, rows, cols, bits, QUANT_BLOCK);
      let saturated = 0;
      for (let i = 0; i < m.length; i++) {
        const s = Math.abs(q.scales[Math.floor(i / cols) * 3 + Math.floor((i % cols) / QUANT_BLOCK)]);
        // The block's largest magnitude maps to the lowest code; a value of the opposite sign and
        // almost the same magnitude lands above the highest code and is clamped to it.
        const top = Math.abs(back[i] - m[i]) > s / 2 + 1e-6;
        if (top) saturated++;
        assert.ok(Math.abs(back[i] - m[i]) <= (top ? s : s / 2) + 1e-6, `${bits}-bit value ${i}: ${back[i]} vs ${m[i]} (step ${s})`);
        if (top) assert.ok(Math.abs(back[i] - (2 ** (bits - 1) - 1) * s * Math.sign(m[i])) < 1e-5, `value ${i} is clamped to the top code`);
      }
      assert.ok(saturated < m.length / 20, `${saturated} clamped values`);
    }
  });
});

/** A tensor replaced by what its quantized form stands for. */
function roundTrip(t: Tensor, bits: 4 | 8): Tensor {
  const [rows, cols] = t.dims;
  return { dims: t.dims, data: dequantizeBlockwise(quantizeBlockwise(t.data, rows, cols, bits, QUANT_BLOCK), rows, cols, bits, QUANT_BLOCK) };
}

function dequantizedLlama(c: LlamaCheckpoint, bits: 4 | 8): LlamaCheckpoint {
  const w = c.weights;
  return {
    ...c,
    weights: {
      embed: roundTrip(w.embed, bits),
      finalNorm: w.finalNorm,
      ...(w.lmHead ? { lmHead: roundTrip(w.lmHead, bits) } : {}),
      layers: w.layers.map((l) => ({ ...l, wq: roundTrip(l.wq, bits), wk: roundTrip(l.wk, bits), wv: roundTrip(l.wv, bits), wo: roundTrip(l.wo, bits), wGate: roundTrip(l.wGate, bits), wUp: roundTrip(l.wUp, bits), wDown: roundTrip(l.wDown, bits) })),
    },
  };
}

function dequantizedHuginn(c: HuginnCheckpoint, bits: 4 | 8): HuginnCheckpoint {
  const w = c.weights;
  const block = (b: HuginnBlockWeights): HuginnBlockWeights => ({ ...b, wqkv: roundTrip(b.wqkv, bits), proj: roundTrip(b.proj, bits), fc: roundTrip(b.fc, bits), mlpProj: roundTrip(b.mlpProj, bits) });
  return {
    ...c,
    weights: { ...w, embed: roundTrip(w.embed, bits), adapter: roundTrip(w.adapter, bits), prelude: w.prelude.map(block), core: w.core.map(block), coda: w.coda.map(block), ...(w.lmHead ? { lmHead: roundTrip(w.lmHead, bits) } : {}) },
  };
}

/** Largest |graph − reference| relative to the reference's largest magnitude, over every hook point and the logits. */
async function relativeError(model: InstrumentedModel, ids: number[], ref: { residPre: Float32Array[][]; residPost: Float32Array[][]; logits: Float32Array[] }): Promise<number> {
  const n = model.spec.nBlocks;
  const got = await model.forward([ids], undefined, { reads: allHookNames(n).map((hook) => ({ hook, positions: 'all' as const })), allLogits: true });
  const d = model.spec.dModel;
  const V = model.spec.vocabSize;
  let worst = 0;
  const compare = (a: Float32Array, b: Float32Array) => {
    const scale = Math.max(...b.map(Math.abs));
    for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  };
  for (let l = 0; l < n; l++) {
    ids.forEach((_, t) => {
      compare(got.reads.get(`blocks.${l}.hook_resid_pre`)![0].subarray(t * d, (t + 1) * d), ref.residPre[l][t]);
      compare(got.reads.get(`blocks.${l}.hook_resid_post`)![0].subarray(t * d, (t + 1) * d), ref.residPost[l][t]);
    });
  }
  ids.forEach((_, t) => compare(got.logits[0].subarray(t * V, (t + 1) * V), ref.logits[t]));
  return worst;
}

/** The graph LayerLab runs, or (exact) its form with MatMulNBits computing in fp32. */
async function load(recipe: GraphRecipe, precision: WeightPrecision, exact = false): Promise<InstrumentedModel> {
  const built = buildInstrumentedModel(recipe, path.join(root, 'graphs'), { precision });
  return InstrumentedModel.load(built, { provider: 'cpu', threads: 1 }, exact ? writeGraphForm(recipe, built, { edits: true, nbitsAccuracyLevel: 0 }) : undefined);
}

/** fp32 arithmetic on the dequantized weights: the graph and the reference differ by rounding only. */
const EXACT_TOL = 1e-4;
/*
 * The graph LayerLab runs quantizes MatMulNBits' activations to int8 per block of 32 as well
 * (accuracy level 4, see layers.ts): on these models that moves hooks and logits by up to 10% of
 * each vector's largest value (up to 12 blocks deep, d 32 and 64; 9.1% on huginn int4); a wrong code, scale or layout
 * moves them by more than the values themselves; 15% leaves room for other CPUs' int8 kernels.
 */
const REL_TOL = 0.15;
const IDS = [1, 7, 3, 22, 9, 41];

const huginnDir = writeTinyHuginn(path.join(root, 'huginn'), { seed: 8 }).dir;
const CASES: { name: string; recipe: GraphRecipe; reference: (bits: 4 | 8 | 32) => ReturnType<typeof referenceForward>; prompt: number[] }[] = [
  (() => {
    const ckpt = randomLlama({ nLayers: 2 }, 21);
    return { name: 'llama (tied head, dFF 48: a padded last block)', recipe: llamaRecipe(ckpt), reference: (bits: 4 | 8 | 32) => referenceForward(bits === 32 ? ckpt : dequantizedLlama(ckpt, bits), IDS), prompt: IDS };
  })(),
  (() => {
    const ckpt = randomLlama({ modelType: 'qwen2', qkvBias: true, tiedEmbeddings: false, nKvHeads: 1, nLayers: 2 }, 22);
    return { name: 'qwen2 (q/k/v bias, untied head)', recipe: llamaRecipe(ckpt), reference: (bits: 4 | 8 | 32) => referenceForward(bits === 32 ? ckpt : dequantizedLlama(ckpt, bits), IDS), prompt: IDS };
  })(),
  (() => {
    const ckpt = readHuginnCheckpoint(huginnDir);
    const ids = [256, 72, 105, 33, 10, 65];
    return { name: 'huginn (num_steps 2)', recipe: huginnRecipe(ckpt, { numSteps: 2 }), reference: (bits: 4 | 8 | 32) => huginnReferenceForward(bits === 32 ? ckpt : dequantizedHuginn(ckpt, bits), ids, { numSteps: 2 }), prompt: ids };
  })(),
];

for (const c of CASES) {
  describe(`int8 and int4 weights: ${c.name}`, () => {
    for (const [precision, bits] of [['int8', 8], ['int4', 4]] as const) {
      test(`${precision}: computing in fp32, every hook point and the logits equal the reference on the dequantized weights`, async (t) => {
        const model = await load(c.recipe, precision, true);
        try {
          const err = await relativeError(model, c.prompt, c.reference(bits));
          t.diagnostic(`${precision}, MatMulNBits in fp32: max error ${err.toExponential(2)} of scale`);
          assert.ok(err <= EXACT_TOL, `max relative error ${err}`);
        } finally {
          await model.release();
        }
      });

      test(`${precision}: as LayerLab runs it (int8 activations in MatMulNBits), within ${REL_TOL * 100}% of the same reference`, async (t) => {
        const model = await load(c.recipe, precision);
        try {
          assert.equal(model.spec.precision, precision);
          const err = await relativeError(model, c.prompt, c.reference(bits));
          const vsFp32 = await relativeError(model, c.prompt, c.reference(32));
          t.diagnostic(`${precision}: max error ${(err * 100).toFixed(2)}% vs the dequantized reference, ${(vsFp32 * 100).toFixed(2)}% vs the fp32 reference`);
          assert.ok(err <= REL_TOL, `max relative error ${err}`);
        } finally {
          await model.release();
        }
      });
    }

    test('greedy ids at fp32, int8 and int4 (reported, not asserted: quantization may change them)', async (t) => {
      const ids: Record<string, number[]> = {};
      for (const precision of ['fp32', 'int8', 'int4'] as const) {
        const model = await load(c.recipe, precision);
        try {
          ids[precision] = (await generateGreedy(model, { eosIds: [], decode: () => '' } as never, [c.prompt], { maxNewTokens: 12, stopAtEos: false }))[0].ids;
        } finally {
          await model.release();
        }
      }
      const same = (p: string) => ids[p].filter((x, i) => x === ids.fp32[i]).length;
      t.diagnostic(`fp32 ${ids.fp32.join(' ')} | int8 ${ids.int8.join(' ')} (${same('int8')}/12 equal) | int4 ${ids.int4.join(' ')} (${same('int4')}/12 equal)`);
      assert.equal(ids.int4.length, 12);
    });
  });
}

describe('requests that cannot be served are refused before anything is written', () => {
  const model = writeDemoModel(path.join(root, 'demo'), { seed: 3 }).dir;
  const refuse = async (opts: Parameters<typeof openModel>[1], message: RegExp) => {
    const cache = fs.mkdtempSync(path.join(root, 'refused-'));
    await assert.rejects(openModel(model, { provider: 'cpu', graphCacheDir: cache, ...opts }), (e: Error) => e instanceof ModelOpenError && message.test(e.message));
    assert.deepEqual(fs.readdirSync(cache), [], 'nothing written');
  };

  test('fp16 weights on the CPU name the GPU providers and the CPU precisions', () =>
    refuse({ weights: 'fp16' }, /fp16 weights run on a GPU provider \(webgpu or cuda\).*choose weights fp32, int8 or int4/));

  test('a model too large for the memory budget names the precision that fits', () => {
    // A budget between what int8 and fp32 weights need.
    const plan = loadCheckpoint(model).recipe.weightPlan;
    const need = (p: WeightPrecision) => PEAK_MEMORY_FACTOR * estimateWeightBytes(plan, p).parameterBytes + RUNTIME_OVERHEAD_BYTES;
    return refuse({ memoryBudget: (need('fp32') + need('int8')) / 2 }, /with fp32 weights needs ≈ .* but only .* is available .*: choose weights int8 \(≈ [\d.]+ MB\) or int4/);
  });

  test('an unknown precision lists the valid ones', () => refuse({ weights: 'int2' as never }, /unknown weight precision 'int2': choose fp32, fp16, int8, int4/));
});
