/**
 * One resident copy of the weights (issue 10): peak RSS above Node's baseline stays within
 * PEAK_MEMORY_FACTOR × the weight bytes through loading, prefill, decoding, the first
 * intervention and a sweep of 16 interventions, and across huginn num_steps variants; the
 * measurement itself is shown to catch a second copy. Every measurement runs in a fresh child
 * process (bench/memoryProbe.ts) on generated real-shaped checkpoints of a few hundred MB, large
 * enough that the weights, not Node or ONNX Runtime, dominate what is measured.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { writeHuginnShaped, writeQwen2Shaped } from '../../bench/checkpoints';
import type { MemoryProbeRequest, MemoryProbeResult } from '../../bench/memoryProbe';
import { PEAK_MEMORY_FACTOR } from '../../runtime/openModel';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const root = tmpDir('layerlab-memory-');
const graphCacheDir = path.join(root, 'graphs');
let qwen: string;
let huginn: string;

function child(script: string, arg: string): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...(script === '-e' ? ['-e', arg] : [script, arg])], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    timeout: 300_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').pop()!;
}

function probe(req: Omit<MemoryProbeRequest, 'graphCacheDir' | 'threads'>): MemoryProbeResult {
  return JSON.parse(child(path.join(ROOT, 'bench', 'memoryProbe.ts'), JSON.stringify({ ...req, graphCacheDir, threads: 2 }))) as MemoryProbeResult;
}

/** Builds in a child of its own, so the probes load cached graphs (first opens are measured by the bench). */
function build(model: string, variants: object[] = [{}]): void {
  const open = variants.map((v) => `await (await openModel(${JSON.stringify(model)}, { provider: 'cpu', graphCacheDir: ${JSON.stringify(graphCacheDir)}, modelOptions: ${JSON.stringify(v)} })).model.release();`);
  child('-e', `const { openModel } = require('./runtime/openModel'); (async () => { ${open.join(' ')} console.log('built'); })().catch((e) => { console.error(e); process.exit(1); });`);
}

function describe(r: MemoryProbeResult): string {
  return `weights ${r.weightsMB.toFixed(0)} MiB; peak above baseline: ` + Object.entries(r.peaksMB).map(([k, v]) => `${k} ${(v / r.weightsMB).toFixed(2)}×`).join(', ');
}

before(() => {
  // Qwen2-0.5B's widths with fewer layers and a smaller vocabulary: 141 M parameters, 564 MiB fp32.
  qwen = writeQwen2Shaped(path.join(root, 'qwen2-shaped'), { num_hidden_layers: 8, vocab_size: 32000 });
  huginn = writeHuginnShaped(path.join(root, 'huginn-shaped'), { dModel: 1024, nHeads: 16, dFF: 2816, vocab: 32768, maxSeqLen: 1024 });
  build(qwen);
  build(huginn, [{ numSteps: 2 }, { numSteps: 8 }]);
});

test(`every phase peaks within ${PEAK_MEMORY_FACTOR}× the weights: load, prefill, decode, first intervention, 16 interventions`, (t) => {
  const r = probe({ model: qwen });
  t.diagnostic(describe(r));
  for (const [phase, mb] of Object.entries(r.peaksMB)) {
    assert.ok(mb <= PEAK_MEMORY_FACTOR * r.weightsMB, `${phase}: ${(mb / r.weightsMB).toFixed(2)}× the weights (${mb.toFixed(0)} of ${r.weightsMB.toFixed(0)} MiB)`);
  }
});

test('the measurement catches a second copy: a second session of the same graph (LayerLab before one graph took edits) fails the bound', (t) => {
  const r = probe({ model: qwen, twoCopies: true });
  t.diagnostic(describe(r));
  assert.ok(r.peaksMB['first intervention'] > PEAK_MEMORY_FACTOR * r.weightsMB, `two sessions peaked at ${(r.peaksMB['first intervention'] / r.weightsMB).toFixed(2)}×`);
  assert.ok(r.peaksMB['first intervention'] > 1.8 * r.weightsMB, 'and by about a second copy of the weights');
});

test('huginn: num_steps 2, then num_steps 8 opened after releasing it (one weights file, core weights once), stay within the bound', (t) => {
  const r = probe({ model: huginn, variants: [{ numSteps: 2 }, { numSteps: 8 }] });
  t.diagnostic(describe(r));
  for (const [phase, mb] of Object.entries(r.peaksMB)) {
    assert.ok(mb <= PEAK_MEMORY_FACTOR * r.weightsMB, `${phase}: ${(mb / r.weightsMB).toFixed(2)}× the weights`);
  }
});
