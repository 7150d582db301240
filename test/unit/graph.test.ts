/**
 * The instrumented ONNX graph against the independent plain-TypeScript forward pass, and the
 * edit contract (zero edits change nothing; an edit at block l changes only what follows it;
 * the projection edit equals the formula applied by hand).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildInstrumentedModel, llamaRecipe, writeGraphForm } from '../../models/graph/build';
import { allHookNames } from '../../models/graph/spec';
import { InstrumentedModel, ModelInputError, selectRows } from '../../runtime/model';
import { referenceForward } from '../../runtime/reference/llamaForward';
import { randomLlama } from '../helpers/randomLlama';
import { tmpDir } from '../helpers/tmp';
import type { LlamaCheckpoint } from '../../models/checkpoint';

const TOL = 1e-4;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function assertClose(a: Float32Array, b: Float32Array, what: string, tol = TOL): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max |diff| ${d} > ${tol}`);
}

const cacheRoot = tmpDir('layerlab-graphs-');

async function load(ckpt: LlamaCheckpoint): Promise<InstrumentedModel> {
  return InstrumentedModel.load(buildInstrumentedModel(llamaRecipe(ckpt), cacheRoot), { provider: 'cpu', threads: 1 });
}

const VARIANTS: { name: string; ckpt: LlamaCheckpoint }[] = [
  { name: 'llama (tied, GQA, halves RoPE)', ckpt: randomLlama({}, 1) },
  { name: 'qwen2-style (q/k/v bias, untied)', ckpt: randomLlama({ modelType: 'qwen2', qkvBias: true, tiedEmbeddings: false, nKvHeads: 1 }, 2) },
  { name: 'llama2.c-style (adjacent RoPE, MHA)', ckpt: randomLlama({ modelType: 'llama2c', ropeStyle: 'adjacent', nKvHeads: 4 }, 3) },
];

for (const { name, ckpt } of VARIANTS) {
  describe(`graph vs reference: ${name}`, () => {
    let model: InstrumentedModel;
    before(async () => {
      model = await load(ckpt);
    });
    after(async () => model.release());

    test('every hook point and the logits match at every position (1e-4)', async () => {
      const ids = [1, 7, 3, 22, 9, 41, 5];
      const ref = referenceForward(ckpt, ids);
      const hooks = allHookNames(ckpt.config.nLayers);
      const r = await model.forward([ids], undefined, { reads: hooks.map((hook) => ({ hook, positions: 'all' })), allLogits: true });
      const d = ckpt.config.dModel;
      for (let l = 0; l < ckpt.config.nLayers; l++) {
        for (const [kind, refArr] of [['hook_resid_pre', ref.residPre[l]], ['hook_resid_post', ref.residPost[l]]] as const) {
          const got = r.reads.get(`blocks.${l}.${kind}`)![0];
          ids.forEach((_, t) => assertClose(got.subarray(t * d, (t + 1) * d), refArr[t], `blocks.${l}.${kind} position ${t}`));
        }
      }
      const V = ckpt.config.vocabSize;
      ids.forEach((_, t) => assertClose(r.logits[0].subarray(t * V, (t + 1) * V), ref.logits[t], `logits position ${t}`));
    });

    test('KV-cached decoding equals a full recompute', async () => {
      const ids = [1, 4, 8, 15, 16, 23];
      const full = referenceForward(ckpt, ids);
      const first = await model.forward([ids.slice(0, 3)], undefined, { reads: [{ hook: 'blocks.1.hook_resid_post', positions: 'last' }] });
      let kv = first.kv;
      for (let t = 3; t < ids.length; t++) {
        const step = await model.forward([[ids[t]]], kv, { reads: [{ hook: 'blocks.1.hook_resid_post', positions: 'last' }] });
        kv = step.kv;
        assertClose(step.logits[0], full.logits[t], `cached logits at position ${t}`);
        assertClose(step.reads.get('blocks.1.hook_resid_post')![0], full.residPost[1][t], `cached hook at position ${t}`);
      }
    });

    test('left padding with the attention mask gives the same results as batch size 1', async () => {
      const a = [1, 5, 9, 13, 17, 21];
      const b = [1, 30];
      const batch = await model.forward([a, b], undefined, { reads: [{ hook: 'blocks.2.hook_resid_post', positions: 'mean' }] });
      for (const [i, seq] of [a, b].entries()) {
        const single = await model.forward([seq], undefined, { reads: [{ hook: 'blocks.2.hook_resid_post', positions: 'mean' }] });
        assertClose(batch.logits[i], single.logits[0], `row ${i} logits`, 1e-5);
        assertClose(batch.reads.get('blocks.2.hook_resid_post')![i], single.reads.get('blocks.2.hook_resid_post')![0], `row ${i} mean`, 1e-5);
      }
      // and a padded batch continues correctly through the cache
      const stepBatch = await model.forward([[7], [8]], batch.kv);
      const refB = referenceForward(ckpt, [...b, 8]);
      assertClose(stepBatch.logits[1], refB.logits[b.length], 'padded row decode step');
    });
  });
}

describe('edits', () => {
  const ckpt = randomLlama({}, 4);
  const d = ckpt.config.dModel;
  const L = ckpt.config.nLayers;
  const ids = [1, 11, 12, 13, 14];
  const allReads = allHookNames(L).map((hook) => ({ hook, positions: 'all' as const }));
  let model: InstrumentedModel;
  before(async () => {
    model = await load(ckpt);
  });
  after(async () => model.release());

  const unit = (seed: number) => {
    const v = Float32Array.from({ length: d }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };

  test('no edits, and scale 0 with α 0 at every hook point, are bit-identical to the graph built without edit inputs', async () => {
    const recipe = llamaRecipe(ckpt);
    const built = buildInstrumentedModel(recipe, cacheRoot);
    const noEditGraph = await InstrumentedModel.load(built, { provider: 'cpu', threads: 1 }, writeGraphForm(recipe, built, { edits: false }));
    try {
      const plain = await noEditGraph.forward([ids], undefined, { reads: allReads, allLogits: true });
      const none = await model.forward([ids], undefined, { reads: allReads, allLogits: true });
      const zero = await model.forward([ids], undefined, {
        reads: allReads,
        allLogits: true,
        edits: allHookNames(L).map((hook) => ({ hook, scale: 0, direction: unit(3), add: new Float32Array(d) })),
      });
      for (const r of [none, zero]) {
        assert.deepEqual(r.logits[0], plain.logits[0]);
        for (const { hook } of allReads) assert.deepEqual(r.reads.get(hook)![0], plain.reads.get(hook)![0], hook);
      }
    } finally {
      await noEditGraph.release();
    }
  });

  test('an edit at block l leaves earlier hook points unchanged and changes later ones', async () => {
    const l = 1;
    const plain = await model.forward([ids], undefined, { reads: allReads });
    const edited = await model.forward([ids], undefined, {
      reads: allReads,
      edits: [{ hook: `blocks.${l}.hook_resid_post`, scale: 4, direction: unit(5) }],
    });
    for (let b = 0; b < L; b++) {
      for (const kind of ['hook_resid_pre', 'hook_resid_post']) {
        const hook = `blocks.${b}.${kind}`;
        const same = maxAbsDiff(edited.reads.get(hook)![0], plain.reads.get(hook)![0]) === 0;
        const before = b < l || (b === l && kind === 'hook_resid_pre');
        assert.equal(same, before, `${hook} should ${before ? 'be unchanged' : 'change'}`);
      }
    }
  });

  test('the projection edit equals x + scale·(x·d̂)·d̂ + add computed by hand on the read-back state', async () => {
    const hook = 'blocks.0.hook_resid_post';
    const dir = unit(9);
    const add = Float32Array.from({ length: d }, (_, i) => 0.01 * ((i % 5) - 2));
    const scale = 0.7;
    const plain = await model.forward([ids], undefined, { reads: [{ hook, positions: 'all' }] });
    const edited = await model.forward([ids], undefined, { reads: [{ hook, positions: 'all' }], edits: [{ hook, scale, direction: dir, add }] });
    const x = plain.reads.get(hook)![0];
    const got = edited.reads.get(hook)![0];
    for (let t = 0; t < ids.length; t++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += x[t * d + j] * dir[j];
      const want = Float32Array.from({ length: d }, (_, j) => x[t * d + j] + scale * dot * dir[j] + add[j]);
      assertClose(got.subarray(t * d, (t + 1) * d), want, `position ${t}`, 1e-5);
    }
  });

  test('editPositions last edits only the last position', async () => {
    const hook = 'blocks.0.hook_resid_pre';
    const plain = await model.forward([ids], undefined, { reads: [{ hook, positions: 'all' }] });
    const edited = await model.forward([ids], undefined, {
      reads: [{ hook, positions: 'all' }],
      edits: [{ hook, scale: 2, direction: unit(2) }],
      editPositions: 'last',
    });
    const x = plain.reads.get(hook)![0];
    const y = edited.reads.get(hook)![0];
    assert.equal(maxAbsDiff(x.subarray(0, (ids.length - 1) * d), y.subarray(0, (ids.length - 1) * d)), 0);
    assert.ok(maxAbsDiff(x.subarray((ids.length - 1) * d), y.subarray((ids.length - 1) * d)) > 0);
  });

  test('bad hook names, vectors and inputs are refused with a clear message', async () => {
    await assert.rejects(model.forward([ids], undefined, { reads: [{ hook: `blocks.${L}.hook_resid_post`, positions: 'last' }] }), /out of range: this model has blocks 0\.\.2/);
    await assert.rejects(model.forward([ids], undefined, { reads: [{ hook: 'blocks.0.resid', positions: 'last' }] }), /not of the form/);
    await assert.rejects(model.forward([ids], undefined, { edits: [{ hook: 'blocks.0.hook_resid_pre', scale: 1, direction: new Float32Array(3) }] }), /length 3, the model's d_model is 32/);
    await assert.rejects(model.forward([[1, 999]]), ModelInputError);
    await assert.rejects(model.forward([Array.from({ length: 65 }, () => 1)]), /longer than the model's context of 64/);
  });
});

describe('continuing from a shared prefix', () => {
  const ckpt = randomLlama({}, 5);
  let model: InstrumentedModel;
  before(async () => {
    model = await load(ckpt);
  });
  after(async () => model.release());

  test('suffixes of different lengths after one prefix KV equal full recomputes', async () => {
    const prefix = [1, 20, 21, 22, 23];
    const suffixes = [[30, 31, 32], [33], [34, 35]];
    const pre = await model.forward([prefix]);
    const kv = selectRows(pre.kv, suffixes.map(() => 0));
    const r = await model.forward(suffixes, kv, { reads: [{ hook: 'blocks.2.hook_resid_post', positions: 'last' }], allLogits: true });
    const V = ckpt.config.vocabSize;
    suffixes.forEach((suf, i) => {
      const ref = referenceForward(ckpt, [...prefix, ...suf]);
      suf.forEach((_, t) => assertClose(r.logits[i].subarray(t * V, (t + 1) * V), ref.logits[prefix.length + t], `row ${i} suffix position ${t}`));
      assertClose(r.reads.get('blocks.2.hook_resid_post')![i], ref.residPost[2][prefix.length + suf.length - 1], `row ${i} last hook`);
    });
  });
});
