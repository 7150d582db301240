/**
 * The two additions to the edit graph, against hand computations on the read-back states of a
 * random Llama: the rotation (angular steering) turns x by θ towards d̂ in the plane of x and d̂
 * (computed here from plane geometry: the angle φ between x and d̂, then ‖x‖·(cos(φ−θ)·d̂ +
 * sin(φ−θ)·ê)), leaves x along d̂ alone, and is bit-identical to none at θ = 0; the lens applies
 * the final norm and head of the independent TypeScript reference to any hidden state.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildInstrumentedModel, llamaRecipe } from '../../models/graph/build';
import { allHookNames } from '../../models/graph/spec';
import { InstrumentedModel } from '../../runtime/model';
import { referenceForward, referenceHead } from '../../runtime/reference/llamaForward';
import { randomLlama } from '../helpers/randomLlama';
import { tmpDir } from '../helpers/tmp';

const ckpt = randomLlama({}, 11);
const d = ckpt.config.dModel;
const L = ckpt.config.nLayers;
const ids = [1, 9, 4, 27, 3, 15];
let model: InstrumentedModel;

/** The lens logits of hidden-state rows, in one pass (any input token serves). */
async function lensLogits(m: InstrumentedModel, rows: Float32Array): Promise<Float32Array> {
  return (await m.forward([[1]], undefined, { readsOnly: true, lensRows: rows })).lensLogits!;
}

function unit(seed: number): Float32Array {
  const v = Float32Array.from({ length: d }, (_, i) => Math.cos(seed * 3.3 + i * 0.7) + 0.2 * Math.sin(i * seed));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** x turned by θ towards d̂ within their plane, by plane geometry (float64). */
function rotateByHand(x: Float32Array, dir: Float32Array, theta: number): Float64Array {
  const a = x.reduce((s, v, i) => s + v * dir[i]!, 0);
  const perp = Float64Array.from(x, (v, i) => v - a * dir[i]!);
  const r = Math.hypot(...perp);
  const norm = Math.hypot(...x);
  const phi = Math.atan2(r, a); // angle from d̂
  return Float64Array.from(x, (_, i) => norm * (Math.cos(phi - theta) * dir[i]! + Math.sin(phi - theta) * (perp[i]! / r)));
}

describe('rotation edit (angular steering) and lens in the graph', () => {
  before(async () => {
    model = await InstrumentedModel.load(buildInstrumentedModel(llamaRecipe(ckpt), tmpDir('layerlab-graphs-')), { provider: 'cpu', threads: 1 });
  });
  after(async () => model.release());

  for (const degrees of [30, -75, 160]) {
    test(`a rotation by ${degrees}° equals the plane rotation computed by hand at every position (1e-5 of ‖x‖), keeps ‖x‖, and nothing before the hook changes`, async () => {
      const hook = 'blocks.1.hook_resid_pre';
      const reads = allHookNames(L).map((h) => ({ hook: h, positions: 'all' as const }));
      const dir = unit(2);
      const plain = await model.forward([ids], undefined, { reads });
      const rotated = await model.forward([ids], undefined, { reads, edits: [{ hook, direction: dir, rotate: (degrees * Math.PI) / 180 }] });
      const x = plain.reads.get(hook)![0]!;
      const y = rotated.reads.get(hook)![0]!;
      for (let t = 0; t < ids.length; t++) {
        const xt = x.subarray(t * d, (t + 1) * d);
        const want = rotateByHand(xt, dir, (degrees * Math.PI) / 180);
        const n = Math.hypot(...xt);
        for (let j = 0; j < d; j++) assert.ok(Math.abs(y[t * d + j]! - want[j]!) <= 1e-5 * n, `position ${t} dim ${j}: ${y[t * d + j]} vs ${want[j]}`);
        assert.ok(Math.abs(Math.hypot(...y.subarray(t * d, (t + 1) * d)) - n) <= 1e-5 * n, 'the norm is kept');
      }
      assert.deepEqual(rotated.reads.get('blocks.0.hook_resid_post')![0], plain.reads.get('blocks.0.hook_resid_post')![0], 'earlier hooks are untouched');
      assert.notDeepEqual(rotated.logits[0], plain.logits[0]);
    });
  }

  test('x along d̂ (within 0.06°, as far as float32 can tell) has no plane: it is left as it is, while the other positions turn', async () => {
    const hook = 'blocks.2.hook_resid_post';
    const plain = await model.forward([ids], undefined, { reads: [{ hook, positions: 'all' }] });
    const x = plain.reads.get(hook)![0]!;
    const t0 = 3;
    const x0 = x.subarray(t0 * d, (t0 + 1) * d);
    // d̂ at 7e-4 rad from x0 (sin² 4.9e-7: above float32's noise in ‖x‖² − (x·d̂)², under the 1e-6 of
    // ROTATION_EPS): towards another position's state.
    const u0 = Array.from(x0, (v) => v / Math.hypot(...x0));
    const x1 = x.subarray(0, d);
    const along = x1.reduce((a, v, j) => a + v * u0[j]!, 0);
    const perp = Array.from(x1, (v, j) => v - along * u0[j]!);
    const pn = Math.hypot(...perp);
    const raw = u0.map((v, j) => v + 7e-4 * (perp[j]! / pn));
    const dir = Float32Array.from(raw, (v) => v / Math.hypot(...raw));
    const y = (await model.forward([ids], undefined, { reads: [{ hook, positions: 'all' }], edits: [{ hook, direction: dir, rotate: 0.5 }] })).reads.get(hook)![0]!;
    const n = Math.hypot(...x0);
    for (let j = 0; j < d; j++) assert.ok(Math.abs(y[t0 * d + j]! - x0[j]!) <= 1e-6 * n, `dim ${j}`);
    assert.ok(Math.abs(y[0]! - x[0]!) > 0, 'another position turned');
  });

  test('rotation 0 with a direction at every hook point is bit-identical to no edit', async () => {
    const reads = allHookNames(L).map((hook) => ({ hook, positions: 'all' as const }));
    const plain = await model.forward([ids], undefined, { reads, allLogits: true });
    const zero = await model.forward([ids], undefined, { reads, allLogits: true, edits: allHookNames(L).map((hook, i) => ({ hook, direction: unit(i + 1), rotate: 0 })) });
    assert.deepEqual(zero.logits[0], plain.logits[0]);
    for (const { hook } of reads) assert.deepEqual(zero.reads.get(hook)![0], plain.reads.get(hook)![0], hook);
  });

  test('the lens is the reference final norm + head applied to any hidden state (1e-4), and exactly the model\u2019s own logits at the last block output', async () => {
    const ref = referenceForward(ckpt, ids);
    const hooks = allHookNames(L);
    const r = await model.forward([ids], undefined, { reads: hooks.map((hook) => ({ hook, positions: 'all' as const })), allLogits: true });
    const V = ckpt.config.vocabSize;
    for (const hook of hooks) {
      const lens = await lensLogits(model, r.reads.get(hook)![0]!);
      for (let t = 0; t < ids.length; t++) {
        const want = referenceHead(ckpt, r.reads.get(hook)![0]!.slice(t * d, (t + 1) * d));
        for (let v = 0; v < V; v++) assert.ok(Math.abs(lens[t * V + v]! - want[v]!) <= 1e-4, `${hook} position ${t} token ${v}: ${lens[t * V + v]} vs ${want[v]}`);
      }
    }
    const last = await lensLogits(model, r.reads.get(`blocks.${L - 1}.hook_resid_post`)![0]!);
    for (let i = 0; i < last.length; i++) assert.ok(Math.abs(last[i]! - r.logits[0]![i]!) <= 1e-6, `logit ${i}`);
    for (let t = 0; t < ids.length; t++) for (let v = 0; v < V; v++) assert.ok(Math.abs(r.logits[0]![t * V + v]! - ref.logits[t]![v]!) <= 1e-4);
  });

  test('lens rows must be d_model wide', async () => {
    await assert.rejects(model.forward([[1]], undefined, { readsOnly: true, lensRows: new Float32Array(d + 1) }), /not a multiple of d_model/);
  });
});
