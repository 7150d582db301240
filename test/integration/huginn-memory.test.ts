/**
 * Memory of the unrolled huginn graph: at num_steps 32 the core blocks run 32 times but their
 * weights must be held once — in the weights file and in the loaded ONNX Runtime session. Measured
 * on a generated ~91 MB huginn-shaped model (2 prelude, 4 core, 2 coda blocks, d 480), loading and
 * running each graph in a fresh child process (as bench/runtime.ts's rssProbe does), so peak RSS
 * belongs to that load alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTinyHuginn } from '../../models/huginn/demo';
import { huginnParameterCount, huginnTensorTable, probeHuginnCheckpoint } from '../../models/huginn/checkpoint';
import { buildInstrumentedModel } from '../../models/graph/build';
import { loadCheckpoint } from '../../models/load';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const root = tmpDir('layerlab-huginn-mem-');
const graphs = path.join(root, 'graphs');
const MODEL = { seed: 1, dModel: 480, nHeads: 8, dFF: 1280, maxSeqLen: 256 };

/** Loads the (already built) graph in a fresh process with one thread, runs an 8-token prefill, reports MB. */
function probe(dir: string, numSteps: number): { baseline: number; peak: number; built: boolean } {
  const code = `
    const { openModel } = require(${JSON.stringify(path.join(ROOT, 'runtime', 'openModel'))});
    (async () => {
      const baseline = process.memoryUsage().rss / 1e6;
      const o = await openModel(${JSON.stringify(dir)}, { provider: 'cpu', threads: 1, graphCacheDir: ${JSON.stringify(graphs)}, modelOptions: { numSteps: ${numSteps} } });
      await o.model.forward([[256, 72, 105, 33, 10, 65, 66, 67]]);
      const peak = process.resourceUsage().maxRSS * 1024 / 1e6;
      process.stdout.write(JSON.stringify({ baseline, peak, built: o.built }) + '\\n');
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('num_steps 32 holds the core weights once: weights file = parameter bytes, peak RSS ≈ weights, not ×32', (t) => {
  const dir = writeTinyHuginn(path.join(root, 'model'), MODEL).dir;
  const config = probeHuginnCheckpoint(dir).config;
  const paramBytes = 4 * huginnParameterCount(config);
  const coreBytes = 4 * huginnTensorTable(config)
    .filter((x) => x.name.startsWith('transformer.core_block.'))
    .reduce((n, x) => n + x.dims.reduce((a, b) => a * b, 1), 0);

  const built = [1, 32].map((numSteps) => buildInstrumentedModel(loadCheckpoint(dir, undefined, { numSteps }).recipe, graphs));
  for (const b of built) {
    // fp32 parameters once, plus at most 63 alignment bytes per tensor (~90 tensors here).
    assert.ok(b.spec.weightsBytes >= paramBytes && b.spec.weightsBytes < paramBytes + 64 * 100, `weights file ${b.spec.weightsBytes} B vs ${paramBytes} B of parameters`);
    assert.equal(fs.statSync(path.join(b.dir, b.spec.weightsFile)).size, b.spec.weightsBytes);
  }
  assert.equal(built[1].spec.nBlocks, 132);
  const weightsMB = built[1].spec.weightsBytes / 1e6;

  const one = probe(dir, 1);
  const many = probe(dir, 32);
  assert.equal(many.built, false, 'the child loads the graph built above');
  const grow1 = one.peak - one.baseline;
  const grow32 = many.peak - many.baseline;
  t.diagnostic(
    `weights ${weightsMB.toFixed(1)} MB (core ${(coreBytes / 1e6).toFixed(1)} MB); peak RSS above baseline: ` +
      `num_steps 1 ${grow1.toFixed(0)} MB (${(grow1 / weightsMB).toFixed(2)}× weights), num_steps 32 ${grow32.toFixed(0)} MB (${(grow32 / weightsMB).toFixed(2)}× weights)`,
  );
  // A core copy per recurrence would add 31 × core ≈ 15× the weights. What 32 steps do add is the
  // graph itself (nodes, kernels and activations of 132 blocks, ~70 MB whatever the model size)
  // and ONNX Runtime's transient pre-packing of MatMul weights.
  assert.ok(grow32 < 3 * weightsMB, `peak RSS grew ${grow32.toFixed(0)} MB loading ${weightsMB.toFixed(0)} MB of weights`);
  assert.ok(many.peak - one.peak < 0.5 * 31 * (coreBytes / 1e6), `num_steps 32 peaks ${(many.peak - one.peak).toFixed(0)} MB above num_steps 1`);
});
