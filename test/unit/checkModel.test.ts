/**
 * check-model on generated checkpoints: a clean one passes against the independent reference
 * (Llama, Qwen2 and huginn folders; int8 also against the fp32 graph); a damaged converted weights
 * file is caught at the block it damages; a checkpoint with a corrupted (non-finite) tensor is
 * flagged; cancellation stops it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { writeTinyHuginn } from '../../models/huginn/demo';
import { MANIFEST_FILE, WEIGHTS_FILE, type WeightsManifest } from '../../models/graph/weights';
import { checkModel, CHECK_THRESHOLDS, formatCheckReport } from '../../runtime/check/checkModel';
import { CancelledError } from '../../runtime/generate';
import { openModel } from '../../runtime/openModel';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-check-model-');
const base = { provider: 'cpu' as const, threads: 1, maxTokens: 12 };

test('clean checkpoints pass: fp32 graph vs reference for Llama, Qwen2 and huginn', async (t) => {
  const models = [
    writeDemoModel(path.join(root, 'llama'), { seed: 1, nLayers: 3 }).dir,
    writeDemoModel(path.join(root, 'qwen2'), { seed: 2, modelType: 'qwen2', tied: false, nKvHeads: 1 }).dir,
    writeTinyHuginn(path.join(root, 'huginn'), { seed: 3 }).dir,
  ];
  for (const model of models) {
    const r = await checkModel({ ...base, model, graphCacheDir: path.join(root, 'graphs') });
    const c = r.comparisons[0];
    t.diagnostic(`${path.basename(model)}: ${r.verdict}; worst block ${Math.max(...c.blocks.map((b) => b.maxRelativeDiff)).toExponential(2)}, top-1 ${c.nextToken.top1Agreement}, mean KL ${c.nextToken.meanKl.toExponential(2)}`);
    assert.equal(r.verdict, 'pass', formatCheckReport(r));
    assert.equal(r.comparisons.length, 1);
    assert.equal(c.blocks.length, r.model.nBlocks);
    assert.equal(c.nextToken.positions, r.prompts.reduce((n, p) => n + p.tokens, 0));
    assert.ok(c.blocks.every((b) => b.maxRelativeDiff < CHECK_THRESHOLDS.reference.maxRelativeHookDiff));
    if (path.basename(model) === 'huginn') assert.deepEqual(r.model.options, { num_steps: 4, state_init: 'zeros' }, 'huginn is checked at 4 steps by default');
    // The report is plain JSON.
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  }
});

test('int8 weights: the fp32 graph against the reference, and the int8 graph against the fp32 graph', async (t) => {
  const model = path.join(root, 'llama');
  const r = await checkModel({ ...base, model, weights: 'int8', graphCacheDir: path.join(root, 'graphs') });
  t.diagnostic(formatCheckReport(r).split('\n').filter((l) => l.startsWith('#') || l.startsWith('- next')).join(' / '));
  assert.deepEqual(r.comparisons.map((c) => [c.subject, c.baseline]), [['fp32 graph', 'reference forward'], ['int8 graph', 'fp32 graph']]);
  assert.equal(r.comparisons[0].verdict, 'pass');
  assert.equal(r.model.weights, 'int8');
  assert.deepEqual(r.comparisons[1].thresholds, CHECK_THRESHOLDS.int8);
  // Quantization moves the hooks measurably, unlike rounding.
  assert.ok(Math.max(...r.comparisons[1].blocks.map((b) => b.maxRelativeDiff)) > 1e-4);
});

test('a damaged converted weights file is caught at the first block it changes', async () => {
  const model = writeDemoModel(path.join(root, 'damaged'), { seed: 4, nLayers: 3 }).dir;
  const graphCacheDir = path.join(root, 'graphs-damaged');
  const opened = await openModel(model, { provider: 'cpu', graphCacheDir });
  await opened.model.release();
  // Scale layer 1's up projection by 3 in the cache, as a bad conversion or bit rot might.
  const manifest = JSON.parse(fs.readFileSync(path.join(opened.graphDir, MANIFEST_FILE), 'utf8')) as WeightsManifest;
  const t = manifest.tensors['layers.1.w_up'];
  const file = path.join(opened.graphDir, WEIGHTS_FILE);
  const fd = fs.openSync(file, 'r+');
  const buf = Buffer.alloc(t.length);
  fs.readSync(fd, buf, 0, t.length, t.offset);
  for (let i = 0; i < t.length; i += 4) buf.writeFloatLE(3 * buf.readFloatLE(i), i);
  fs.writeSync(fd, buf, 0, t.length, t.offset);
  fs.closeSync(fd);

  const r = await checkModel({ ...base, model, graphCacheDir });
  const c = r.comparisons[0];
  assert.equal(r.verdict, 'fail');
  assert.ok(c.blocks[0].maxRelativeDiff < 1e-4, 'block 0 is untouched');
  assert.equal(c.blocks[1].worstHook, 'blocks.1.hook_resid_post');
  assert.ok(c.blocks[1].maxRelativeDiff > 1e-2);
  assert.match(c.reasons.join('\n'), /blocks\.1\.hook_resid_post differs by .* the first block that does/);
  assert.match(formatCheckReport(r), /^# check-model: FAIL/);
});

test('a checkpoint with a corrupted tensor (NaN) is refused at open, naming the tensor and the element', async () => {
  const model = writeDemoModel(path.join(root, 'nan'), { seed: 5, nLayers: 3 }).dir;
  corrupt(path.join(model, 'model.safetensors'), 'model.layers.2.mlp.down_proj.weight', (row) => row.fill(NaN, 0, 1));
  await assert.rejects(checkModel({ ...base, model, graphCacheDir: path.join(root, 'graphs') }), /tensor model\.layers\.2\.mlp\.down_proj\.weight holds 1 non-finite value \(the first, NaN, at \[0, 0\]\)/);
});

test('finite weights whose activations overflow are flagged where the non-finite values start', async () => {
  const model = writeDemoModel(path.join(root, 'overflow'), { seed: 5, nLayers: 3 }).dir;
  // Every weight of one output channel near float32's largest: the channel's sum overflows to ±inf.
  corrupt(path.join(model, 'model.safetensors'), 'model.layers.2.mlp.down_proj.weight', (row) => row.fill(3e38));
  const r = await checkModel({ ...base, model, graphCacheDir: path.join(root, 'graphs') });
  assert.equal(r.verdict, 'fail');
  assert.match(r.comparisons[0].nonFinite ?? '', /^blocks\.2\.hook_resid_post/);
  assert.match(r.comparisons[0].reasons.join('\n'), /non-finite values first at blocks\.2\.hook_resid_post/);
});

/** Rewrites the first row of a float32 tensor of a safetensors file in place. */
function corrupt(file: string, tensor: string, edit: (row: Float32Array) => void): void {
  const bytes = fs.readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString()) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  const { shape, data_offsets: [start] } = header[tensor];
  const row = new Float32Array(shape[shape.length - 1]);
  for (let i = 0; i < row.length; i++) row[i] = bytes.readFloatLE(8 + headerLen + start + 4 * i);
  edit(row);
  for (let i = 0; i < row.length; i++) bytes.writeFloatLE(row[i], 8 + headerLen + start + 4 * i);
  fs.writeFileSync(file, bytes);
}

test('an aborted signal stops the check', async () => {
  const controller = new AbortController();
  let seen = 0;
  await assert.rejects(
    checkModel({ ...base, model: path.join(root, 'llama'), graphCacheDir: path.join(root, 'graphs') }, {
      signal: controller.signal,
      onProgress: (done, total) => {
        seen = total;
        if (done === 3) controller.abort();
      },
    }),
    CancelledError,
  );
  assert.ok(seen > 3);
});
