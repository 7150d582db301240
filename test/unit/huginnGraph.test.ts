/**
 * The unrolled huginn graph against the independent plain-TypeScript forward pass
 * (runtime/reference/huginnForward.ts) on generated tiny huginn-shaped folders: every hook point and
 * the logits for two num_steps, the seeded random initial state, KV-cached decoding, left
 * padding, edits confined to what follows them, the unrolled block map, and the core weights
 * stored once however many recurrences use them.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { writeTinyHuginn, type TinyHuginnOptions } from '../../models/huginn/demo';
import { huginnParameterCount, probeHuginnCheckpoint, readHuginnCheckpoint, type HuginnCheckpoint } from '../../models/huginn/checkpoint';
import { buildInstrumentedModel, huginnRecipe, writeGraphForm } from '../../models/graph/build';
import { InstrumentedModel } from '../../runtime/model';
import { allHookNames } from '../../models/graph/spec';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import { huginnReferenceForward, type HuginnReferenceOptions } from '../../runtime/reference/huginnForward';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-huginn-graph-');
const graphCacheDir = path.join(root, 'graphs');
const TOL = 1e-4;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function folder(name: string, opts: TinyHuginnOptions): { dir: string; ckpt: HuginnCheckpoint } {
  const dir = writeTinyHuginn(path.join(root, name), opts).dir;
  return { dir, ckpt: readHuginnCheckpoint(dir) };
}

async function open(dir: string, modelOptions: { numSteps: number; stateInit?: string; stateSeed?: number }): Promise<OpenedModel> {
  return openModel(dir, { provider: 'cpu', threads: 1, graphCacheDir, modelOptions });
}

/** Largest |graph − reference| over every hook point at every position and the logits. */
async function worstDiff(opened: OpenedModel, ckpt: HuginnCheckpoint, ids: number[], ref: HuginnReferenceOptions): Promise<{ worst: number; where: string }> {
  const want = huginnReferenceForward(ckpt, ids, ref);
  const n = opened.model.spec.nBlocks;
  assert.equal(want.residPre.length, n, 'reference and graph have the same unrolled depth');
  const got = await opened.model.forward([ids], undefined, { reads: allHookNames(n).map((hook) => ({ hook, positions: 'all' })), allLogits: true });
  const d = ckpt.config.dModel;
  const V = ckpt.config.vocabSize;
  let worst = 0;
  let where = '';
  const note = (diff: number, w: string) => {
    if (diff > worst) [worst, where] = [diff, w];
  };
  for (let l = 0; l < n; l++) {
    for (const [kind, arr] of [['hook_resid_pre', want.residPre[l]], ['hook_resid_post', want.residPost[l]]] as const) {
      const g = got.reads.get(`blocks.${l}.${kind}`)![0];
      ids.forEach((_, t) => note(maxAbsDiff(g.subarray(t * d, (t + 1) * d), arr[t]), `blocks.${l}.${kind}@${t}`));
    }
  }
  ids.forEach((_, t) => note(maxAbsDiff(got.logits[0].subarray(t * V, (t + 1) * V), want.logits[t]), `logits@${t}`));
  return { worst, where };
}

const IDS = [256, 258, 72, 105, 33, 259, 10, 87, 260];

describe('huginn graph vs reference (tied, qk bias, fp32 folder)', () => {
  const { dir, ckpt } = folder('tied', { seed: 1 });
  for (const numSteps of [2, 3]) {
    test(`num_steps ${numSteps}: every hook point and the logits match at every position (1e-4)`, async (t) => {
      const opened = await open(dir, { numSteps });
      try {
        assert.equal(opened.model.spec.nBlocks, 2 + 4 * numSteps + 2);
        const { worst, where } = await worstDiff(opened, ckpt, IDS, { numSteps });
        t.diagnostic(`max |diff| ${worst.toExponential(2)} (at ${where})`);
        assert.ok(worst <= TOL, `max |diff| ${worst} at ${where}`);
      } finally {
        await opened.model.release();
      }
    });
  }

  test('different num_steps give different outputs (the recurrence is really unrolled)', async () => {
    const a = await open(dir, { numSteps: 2 });
    const b = await open(dir, { numSteps: 3 });
    try {
      const ra = await a.model.forward([IDS]);
      const rb = await b.model.forward([IDS]);
      assert.ok(maxAbsDiff(ra.logits[0], rb.logits[0]) > 1e-2);
    } finally {
      await a.model.release();
      await b.model.release();
    }
  });
});

describe('huginn graph vs reference (untied head, adapter bias, bf16 folder, seeded random state)', () => {
  const { dir, ckpt } = folder('untied-bf16', { seed: 2, tied: false, adapterBias: true, dtype: 'BF16', nPrelude: 1, nCoda: 3, nCore: 2 });

  test('random state, seed 5, num_steps 3: every hook point and the logits match (1e-4)', async (t) => {
    const opened = await open(dir, { numSteps: 3, stateInit: 'random', stateSeed: 5 });
    try {
      assert.deepEqual(opened.model.spec.options, { num_steps: 3, state_init: 'random', state_seed: 5 });
      const { worst, where } = await worstDiff(opened, ckpt, IDS, { numSteps: 3, stateInit: 'random', stateSeed: 5 });
      t.diagnostic(`max |diff| ${worst.toExponential(2)} (at ${where})`);
      assert.ok(worst <= TOL, `max |diff| ${worst} at ${where}`);
    } finally {
      await opened.model.release();
    }
  });

  test('random state: a KV-cached decoding step uses its position’s state row, equal to recomputing', async () => {
    const opened = await open(dir, { numSteps: 2, stateInit: 'random', stateSeed: 5 });
    try {
      const full = huginnReferenceForward(ckpt, IDS, { numSteps: 2, stateInit: 'random', stateSeed: 5 });
      let kv = (await opened.model.forward([IDS.slice(0, 5)])).kv;
      for (let t = 5; t < IDS.length; t++) {
        const step = await opened.model.forward([[IDS[t]]], kv);
        kv = step.kv;
        assert.ok(maxAbsDiff(step.logits[0], full.logits[t]) <= TOL, `logits at ${t}`);
      }
    } finally {
      await opened.model.release();
    }
  });

  test('num_steps 0 (the coda reads ln_f of the initial state) matches too', async (t) => {
    const opened = await open(dir, { numSteps: 0, stateInit: 'random', stateSeed: 1 });
    try {
      assert.equal(opened.model.spec.nBlocks, 1 + 3);
      const { worst, where } = await worstDiff(opened, ckpt, IDS, { numSteps: 0, stateInit: 'random', stateSeed: 1 });
      t.diagnostic(`max |diff| ${worst.toExponential(2)} (at ${where})`);
      assert.ok(worst <= TOL, `max |diff| ${worst} at ${where}`);
    } finally {
      await opened.model.release();
    }
  });

  test('zeros, num_steps 2: match (1e-4); the random state changes the outputs and its seed matters', async (t) => {
    const zeros = await open(dir, { numSteps: 2 });
    const r5 = await open(dir, { numSteps: 2, stateInit: 'random', stateSeed: 5 });
    const r6 = await open(dir, { numSteps: 2, stateInit: 'random', stateSeed: 6 });
    try {
      const { worst, where } = await worstDiff(zeros, ckpt, IDS, { numSteps: 2 });
      t.diagnostic(`max |diff| ${worst.toExponential(2)} (at ${where})`);
      assert.ok(worst <= TOL, `max |diff| ${worst} at ${where}`);
      const [a, b, c] = await Promise.all([zeros, r5, r6].map((o) => o.model.forward([IDS])));
      assert.ok(maxAbsDiff(a.logits[0], b.logits[0]) > 1e-3, 'random vs zeros');
      assert.ok(maxAbsDiff(b.logits[0], c.logits[0]) > 1e-3, 'seed 5 vs seed 6');
      // Three options, three graphs over one weights file: num_steps and the state init name the graph.
      assert.equal(new Set([zeros, r5, r6].map((o) => o.model.spec.graph)).size, 3);
      assert.equal(new Set([zeros, r5, r6].map((o) => o.graphDir)).size, 1);
    } finally {
      for (const o of [zeros, r5, r6]) await o.model.release();
    }
  });
});

describe('huginn runtime behaviour (num_steps 3)', () => {
  const { dir, ckpt } = folder('runtime', { seed: 3 });
  let opened: OpenedModel;
  before(async () => {
    opened = await open(dir, { numSteps: 3 });
  });
  after(async () => opened.model.release());
  // A core block of the last recurrence and the first coda block.
  const coreHook = `blocks.${2 + 4 * 2 + 1}.hook_resid_post`;
  const codaHook = 'blocks.14.hook_resid_pre';

  test('KV-cached decoding equals a full recompute (logits and hook points)', async () => {
    const full = huginnReferenceForward(ckpt, IDS, { numSteps: 3 });
    const reads = [coreHook, codaHook].map((hook) => ({ hook, positions: 'last' as const }));
    let kv = (await opened.model.forward([IDS.slice(0, 4)], undefined, { reads })).kv;
    for (let t = 4; t < IDS.length; t++) {
      const step = await opened.model.forward([[IDS[t]]], kv, { reads });
      kv = step.kv;
      assert.ok(maxAbsDiff(step.logits[0], full.logits[t]) <= TOL, `logits at ${t}`);
      assert.ok(maxAbsDiff(step.reads.get(coreHook)![0], full.residPost[2 + 4 * 2 + 1][t]) <= TOL, `core hook at ${t}`);
      assert.ok(maxAbsDiff(step.reads.get(codaHook)![0], full.residPre[14][t]) <= TOL, `coda hook at ${t}`);
    }
  });

  test('left padding with the attention mask equals batch size 1', async () => {
    const a = IDS;
    const b = [256, 65, 66];
    const reads = [{ hook: coreHook, positions: 'mean' as const }];
    const batch = await opened.model.forward([a, b], undefined, { reads });
    for (const [i, seq] of [a, b].entries()) {
      const single = await opened.model.forward([seq], undefined, { reads });
      assert.ok(maxAbsDiff(batch.logits[i], single.logits[0]) <= 1e-5, `row ${i} logits`);
      assert.ok(maxAbsDiff(batch.reads.get(coreHook)![i], single.reads.get(coreHook)![0]) <= 1e-5, `row ${i} hook`);
    }
  });

  const unit = (seed: number) => {
    const v = Float32Array.from({ length: ckpt.config.dModel }, (_, i) => Math.sin(seed * 3.3 + i * 0.7));
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };

  for (const [hook, block, first] of [
    // core block 2 in recurrence 1: a later recurrence of the same core weights must not move
    ['blocks.8.hook_resid_post', 8, 'post'],
    // core block 0's input in recurrence 2 is the adapter output
    ['blocks.10.hook_resid_pre', 10, 'pre'],
    ['blocks.0.hook_resid_pre', 0, 'pre'],
    ['blocks.13.hook_resid_post', 13, 'post'],
  ] as const) {
    test(`an edit at ${hook} leaves every earlier hook point bit-identical and changes every later one`, async () => {
      const n = opened.model.spec.nBlocks;
      const reads = allHookNames(n).map((h) => ({ hook: h, positions: 'all' as const }));
      const plain = await opened.model.forward([IDS], undefined, { reads });
      const edited = await opened.model.forward([IDS], undefined, { reads, edits: [{ hook, scale: 3, direction: unit(block) }] });
      for (let l = 0; l < n; l++) {
        for (const kind of ['pre', 'post'] as const) {
          const h = `blocks.${l}.hook_resid_${kind}`;
          const same = maxAbsDiff(plain.reads.get(h)![0], edited.reads.get(h)![0]) === 0;
          const before = l < block || (l === block && kind === 'pre' && first === 'post');
          assert.equal(same, before, `${h} should ${before ? 'be unchanged' : 'change'}`);
        }
      }
      assert.ok(maxAbsDiff(plain.logits[0], edited.logits[0]) > 0);
    });
  }

  test('no edits, and zero edits at every hook point, are bit-identical to the graph built without edit inputs', async () => {
    const n = opened.model.spec.nBlocks;
    const recipe = huginnRecipe(ckpt, { numSteps: 3 });
    const built = buildInstrumentedModel(recipe, graphCacheDir);
    assert.equal(built.built, false, 'the graph opened above');
    const noEditGraph = await InstrumentedModel.load(built, { provider: 'cpu', threads: 1 }, writeGraphForm(recipe, built, { edits: false }));
    try {
      const reads = allHookNames(n).map((h) => ({ hook: h, positions: 'last' as const }));
      const plain = await noEditGraph.forward([IDS], undefined, { reads });
      const none = await opened.model.forward([IDS], undefined, { reads });
      const zero = await opened.model.forward([IDS], undefined, { reads, edits: allHookNames(n).map((h) => ({ hook: h, scale: 0, direction: unit(1) })) });
      for (const r of [none, zero]) {
        assert.deepEqual(r.logits[0], plain.logits[0]);
        for (const { hook } of reads) assert.deepEqual(r.reads.get(hook)![0], plain.reads.get(hook)![0], hook);
      }
    } finally {
      await noEditGraph.release();
    }
  });
});

describe('the unrolled block map', () => {
  const { dir } = folder('map', { seed: 4 });
  const probe = probeHuginnCheckpoint(dir);
  const recipe = (numSteps: number) => huginnRecipe(probe, () => assert.fail('the block map needs no weights'), { numSteps });

  test('num_steps 32: 132 blocks, block 66 is core block 0 in recurrence 16 (the seed’s layer 66)', () => {
    const r = recipe(32);
    assert.equal(r.blocks.length, 132);
    assert.equal(r.kv.count, 132, 'one KV cache per unrolled block');
    assert.deepEqual(r.blocks[66], { index: 66, part: 'core', label: 'core block 0, recurrence 16' });
    assert.deepEqual(r.blocks[0], { index: 0, part: 'prelude', label: 'prelude 0' });
    assert.deepEqual(r.blocks[1], { index: 1, part: 'prelude', label: 'prelude 1' });
    assert.deepEqual(r.blocks[2], { index: 2, part: 'core', label: 'core block 0, recurrence 0' });
    assert.deepEqual(r.blocks[69], { index: 69, part: 'core', label: 'core block 3, recurrence 16' });
    assert.deepEqual(r.blocks[129], { index: 129, part: 'core', label: 'core block 3, recurrence 31' });
    assert.deepEqual(r.blocks[130], { index: 130, part: 'coda', label: 'coda 0' });
    assert.deepEqual(r.blocks[131], { index: 131, part: 'coda', label: 'coda 1' });
    r.blocks.forEach((b, i) => assert.equal(b.index, i));
    assert.deepEqual(r.options, { num_steps: 32, state_init: 'zeros' });
  });

  test('num_steps 16: 68 blocks, core block 0 of recurrence 8 is block 34, and 66 is coda 0', () => {
    const r = recipe(16);
    assert.equal(r.blocks.length, 68);
    assert.equal(r.blocks[34].label, 'core block 0, recurrence 8');
    assert.equal(r.blocks[65].label, 'core block 3, recurrence 15');
    assert.equal(r.blocks[66].label, 'coda 0');
    assert.deepEqual(r.options, { num_steps: 16, state_init: 'zeros' });
  });

  test('the default num_steps is the config’s mean_recurrence (32, as huginn-0125)', () => {
    assert.equal(huginnRecipe(probe, () => assert.fail('no weights')).blocks.length, 132);
  });

  test('bad options are refused with the flag’s name', () => {
    assert.throws(() => recipe(-1), /--num_steps must be an integer from 0 to 512/);
    assert.throws(() => recipe(1.5), /--num_steps/);
    assert.throws(() => huginnRecipe(probe, () => assert.fail(), { stateInit: 'noise' }), /--state_init must be zeros or random, got 'noise'/);
    assert.throws(() => huginnRecipe(probe, () => assert.fail(), { stateSeed: 3 }), /--state_seed only applies with --state_init random/);
  });
});

describe('core weights are stored once however many recurrences use them', () => {
  const { dir, ckpt } = folder('sharing', { seed: 5 });

  test('num_steps 32: one initializer per core weight, used by all 32 recurrences; weights = parameter bytes', () => {
    const built = buildInstrumentedModel(huginnRecipe(ckpt, { numSteps: 32 }), path.join(root, 'sharing-graphs'));
    const model = onnx.ModelProto.decode(fs.readFileSync(path.join(built.dir, built.spec.graph)));
    const graph = model.graph!;
    const inits = graph.initializer!.map((t) => t.name!);
    const wqkv = inits.filter((n) => n === 'core.1.wqkv');
    assert.equal(wqkv.length, 1, 'core.1.wqkv is one initializer');
    const users = graph.node!.filter((n) => n.input!.includes('core.1.wqkv')).length;
    assert.equal(users, 32, 'and 32 MatMul nodes read it');
    // Every external initializer points into the one weights file; none is duplicated.
    assert.equal(new Set(inits).size, inits.length);
    const paramBytes = 4 * huginnParameterCount(ckpt.config);
    const tensors = graph.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).length;
    assert.equal(built.spec.weightsBytes, paramBytes, 'each parameter counted once, in fp32');
    // The file holds each parameter once, the tied head's copy of the embedding (see weights.ts)
    // and at most 63 alignment bytes per tensor.
    const headCopy = 4 * ckpt.config.vocabSize * ckpt.config.dModel;
    const fileBytes = fs.statSync(path.join(built.dir, 'weights.bin')).size;
    assert.equal(fileBytes, built.spec.weightsFileBytes);
    assert.ok(fileBytes >= paramBytes + headCopy && fileBytes < paramBytes + headCopy + 64 * (tensors + 1), `${fileBytes} vs ${paramBytes} + ${headCopy}`);
  });
});
