/**
 * A first open killed with SIGKILL at any point of the build leaves nothing a later run trips
 * over or keeps: killed while converting the weights, after the weights file is complete but
 * before any graph, and between the two graph files. Each time the next open succeeds, gives the
 * same outputs as a build that was never interrupted, and no partial file remains.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeQwen2Shaped } from '../../bench/checkpoints';
import { openModel } from '../../runtime/openModel';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const root = tmpDir('layerlab-build-crash-');
let model: string;
const PROMPT = [1, 40, 41, 42, 43];

/** Logits of the prompt from a build in `cacheDir` (built now, or reused). */
async function logitsFrom(cacheDir: string): Promise<{ logits: Float32Array; built: boolean }> {
  const opened = await openModel(model, { provider: 'cpu', threads: 1, graphCacheDir: cacheDir });
  try {
    return { logits: (await opened.model.forward([PROMPT])).logits[0], built: opened.built };
  } finally {
    await opened.model.release();
  }
}

/**
 * Starts a first open in a child process that stops itself (blocking inside the progress
 * callback) at the first progress message matching `at`, kills it there with SIGKILL, and returns
 * the cache folder's files at that moment.
 */
async function killAt(cacheDir: string, at: RegExp): Promise<string[]> {
  const code = `
    const { openModel } = require('./runtime/openModel');
    const at = new RegExp(${JSON.stringify(at.source)});
    openModel(${JSON.stringify(model)}, { provider: 'cpu', graphCacheDir: ${JSON.stringify(cacheDir)}, onProgress: (done, total, message) => {
      if (!at.test(message)) return;
      process.stdout.write('STOPPED ' + message + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
    } }).then(() => process.stdout.write('FINISHED\\n'));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('STOPPED')) resolve();
    });
    child.on('exit', () => reject(new Error(`child exited before reaching ${at}: ${out} ${err}`)));
  });
  child.removeAllListeners('exit');
  const files = listFiles(cacheDir);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('exit', resolve));
  return files;
}

function listFiles(dir: string): string[] {
  return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort() : [];
}

let reference: Float32Array;
before(async () => {
  model = writeQwen2Shaped(path.join(root, 'model'), { hidden_size: 256, intermediate_size: 768, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 4096 });
  reference = (await logitsFrom(path.join(root, 'uninterrupted'))).logits;
});

for (const [name, at, partialBefore] of [
  ['while converting the weights (layer 2 of 4)', /^converting layers\.2\.w_up/, /weights\.bin\.partial-/],
  ['after the weights file is complete, before any graph', /^writing decoder-b\d+\.onnx$/, /weights\.json$/],
  ['between the two graph files', /^writing decoder-b\d+-all-positions\.onnx$/, /decoder-b\d+\.onnx$/],
] as const) {
  test(`killed ${name}: the next open succeeds with the same outputs and leaves no partial file`, async () => {
    const cacheDir = path.join(root, name.replace(/\W+/g, '-'));
    const atKill = await killAt(cacheDir, at);
    assert.ok(atKill.some((f) => partialBefore.test(f)), `the kill came where intended: ${atKill.join(', ')}`);
    assert.ok(!atKill.some((f) => /decoder-b\d+\.json$/.test(f)), 'no graph was complete yet');

    const again = await logitsFrom(cacheDir);
    assert.equal(again.built, true, 'the graph was built afresh');
    assert.deepEqual(again.logits, reference);
    const files = listFiles(cacheDir);
    assert.deepEqual(files.filter((f) => /partial/.test(f)), [], `no partial file is left: ${files.join(', ')}`);
    assert.deepEqual(
      files.map((f) => path.basename(f).replace(/-b\d+/, '-bN')),
      ['decoder-bN-all-positions.onnx', 'decoder-bN.json', 'decoder-bN.onnx', 'weights.bin', 'weights.json'],
    );
    // And the open after that reuses it.
    assert.equal((await logitsFrom(cacheDir)).built, false);
  });
}
