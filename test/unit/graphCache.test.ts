/**
 * The graph cache is keyed by the checkpoint's content: a checkpoint rewritten in place with the
 * same size and modification time (cp -p, touch -r, rsync) is rebuilt, never answered from the
 * stale graph; an unchanged one is reused. And what the previous cache layout left behind (a
 * folder per variant with its own weights copy, `.building-*` folders of dead builds) is removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { readHfCheckpoint } from '../../models/hf/checkpoint';
import { openModel } from '../../runtime/openModel';
import { referenceForward } from '../../runtime/reference/llamaForward';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-graph-cache-');
const PROMPT = [1, 60, 61, 62];

async function open(dir: string, graphCacheDir: string) {
  const opened = await openModel(dir, { provider: 'cpu', threads: 1, graphCacheDir });
  try {
    return { built: opened.built, logits: (await opened.model.forward([PROMPT])).logits[0], graphDir: opened.graphDir };
  } finally {
    await opened.model.release();
  }
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

test('a checkpoint rewritten in place with the same size and mtime gets a new graph; an unchanged one reuses its graph', async () => {
  const dir = writeDemoModel(path.join(root, 'model'), { seed: 1 }).dir;
  const cache = path.join(root, 'graphs');
  const file = path.join(dir, 'model.safetensors');
  // A whole-second mtime, so that restoring it below is exact.
  const mtime = Math.floor(Date.now() / 1000) - 3600;
  fs.utimesSync(file, mtime, mtime);
  // Files changed within the clock's granularity are hashed again on every open (see
  // fingerprint.ts); wait until this one is old enough for its hash to be remembered.
  await new Promise((r) => setTimeout(r, 2100));
  const first = await open(dir, cache);
  assert.equal(first.built, true);
  assert.equal((await open(dir, cache)).built, false, 'unchanged: the cached graph');

  // Flip the sign of one embedding row in place, keeping size and mtime.
  const st = fs.statSync(file);
  const bytes = fs.readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const entry = (JSON.parse(bytes.subarray(8, 8 + headerLen).toString()) as Record<string, { data_offsets: [number, number] }>)['model.embed_tokens.weight'];
  const rowBytes = 64 * 4;
  const start = 8 + headerLen + entry.data_offsets[0] + PROMPT[3] * rowBytes;
  for (let i = start; i < start + rowBytes; i += 4) bytes.writeFloatLE(-bytes.readFloatLE(i), i);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, 0);
  fs.closeSync(fd);
  fs.utimesSync(file, mtime, mtime);
  assert.equal(fs.statSync(file).size, st.size);
  assert.equal(fs.statSync(file).mtimeMs, st.mtimeMs);

  const second = await open(dir, cache);
  assert.equal(second.built, true, 'the rewritten checkpoint is built afresh');
  assert.notEqual(second.graphDir, first.graphDir);
  const want = referenceForward(readHfCheckpoint(dir), PROMPT).logits[PROMPT.length - 1];
  assert.ok(maxDiff(second.logits, want) < 1e-4, 'and computes with the new weights');
  assert.ok(maxDiff(first.logits, want) > 1e-3, 'which the old graph would not have');
});

test('folders of the previous cache layout and of dead builds are removed by the next build of that checkpoint', async () => {
  const dir = writeDemoModel(path.join(root, 'model-legacy'), { seed: 2 }).dir;
  const cache = path.join(root, 'graphs-legacy');
  const { graphDir } = await open(dir, cache);
  const hash = path.basename(graphDir).split('-')[1];
  // What LayerLab before this layout left: a graph folder per variant with its own weights, and
  // the temporary folder of a build killed midway (pid 2^22 + 1 is above Linux's pid_max).
  const legacy = path.join(cache, `llama-${hash}-b1`);
  const dead = path.join(cache, `.building-${2 ** 22 + 1}-abc`);
  const unrelated = path.join(cache, 'llama-0123456789abcdef01234567-b1');
  for (const d of [legacy, dead, unrelated]) {
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'weights.bin'), 'x');
  }
  fs.rmSync(path.join(graphDir, fs.readdirSync(graphDir).find((f) => f.endsWith('.json') && f.startsWith('decoder'))!));
  assert.equal((await open(dir, cache)).built, true);
  assert.equal(fs.existsSync(legacy), false, 'the old layout of this checkpoint');
  assert.equal(fs.existsSync(dead), false, 'the dead build');
  assert.equal(fs.existsSync(unrelated), true, "another checkpoint's folder is not this build's to remove");
});
