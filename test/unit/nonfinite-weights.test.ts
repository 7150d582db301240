/**
 * A NaN or infinite weight is refused when the checkpoint is read, naming the tensor and where
 * in it, by every reader (Hugging Face, llama2.c, huginn); and a model that computes NaN from
 * finite weights stops generation with a message instead of "generating" token 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../../models/checkpoint';
import { readHfCheckpoint } from '../../models/hf/checkpoint';
import { readHuginnCheckpoint } from '../../models/huginn/checkpoint';
import { writeTinyHuginn } from '../../models/huginn/demo';
import { readLlama2cCheckpoint } from '../../models/llama2c/checkpoint';
import { writeSafetensors } from '../../models/safetensors';
import { openModel } from '../../runtime/openModel';
import { generateGreedy, NonFiniteOutputError } from '../../runtime/generate';
import { writeNonFiniteWeightModel, writeOverflowModel } from '../helpers/hostileModels';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir();
const stories = sharedFile('stories260K/stories260K.bin');

function refuses(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.equal(e.file, file);
    assert.match(e.message, re);
    return true;
  });
}

test('Hugging Face folder: the tensor, the count and the index of the first bad value', () => {
  const dir = writeNonFiniteWeightModel(path.join(root, 'nan'), 'model.layers.1.mlp.up_proj.weight', 3 * 64 + 5);
  refuses(() => readHfCheckpoint(dir), path.join(dir, 'model.safetensors'),
    /tensor model\.layers\.1\.mlp\.up_proj\.weight holds 1 non-finite value \(the first, NaN, at \[3, 5\]\): the model would compute NaN for every prompt/);
  const inf = writeNonFiniteWeightModel(path.join(root, 'inf'), 'model.norm.weight', 7, -Infinity);
  refuses(() => readHfCheckpoint(inf), path.join(inf, 'model.safetensors'), /tensor model\.norm\.weight holds 1 non-finite value \(the first, -Infinity, at \[7\]\)/);
});

test('huginn folder', () => {
  const h = writeTinyHuginn(path.join(root, 'huginn'));
  const name = 'transformer.core_block.1.attn.Wqkv.weight';
  const t = h.tensors.find((x) => x.name === name)!;
  t.data[2 * t.shape[1] + 1] = NaN;
  t.data[9] = Infinity;
  writeSafetensors(path.join(h.dir, 'model.safetensors'), h.tensors.map((x) => ({ ...x, dtype: 'F32' as const })), { format: 'pt' });
  refuses(() => readHuginnCheckpoint(h.dir), path.join(h.dir, 'model.safetensors'), new RegExp(`tensor ${name.replace(/\./g, '\\.')} holds 2 non-finite values \\(the first, Infinity, at \\[0, 9\\]\\)`));
});

test('llama2.c checkpoint: run.c’s tensor name and [layer, index]', { skip: stories.skip }, () => {
  const bytes = fs.readFileSync(stories.path);
  // Legacy layout: 28-byte header, the embedding [512, 64], then rms_att_weight [n_layers, 64].
  const at = 28 + 4 * 512 * 64 + 4 * (1 * 64 + 5);
  bytes.writeFloatLE(NaN, at);
  const file = path.join(root, 'stories-nan.bin');
  fs.writeFileSync(file, bytes);
  refuses(() => readLlama2cCheckpoint(file), file, /tensor rms_att_weight \[layer, index\] holds 1 non-finite value \(the first, NaN, at \[1, 5\]\)/);
});

test('finite weights that compute NaN stop generation naming the prompt and step', async () => {
  const dir = writeOverflowModel(path.join(root, 'overflow'), 0x7e);
  const opened = await openModel(dir, { provider: 'cpu', graphCacheDir: path.join(root, 'graphs') });
  try {
    const ok = await generateGreedy(opened.model, opened.tokenizer, [opened.tokenizer.encode('plain text', { addBos: true })], { maxNewTokens: 2 });
    assert.equal(ok[0].ids.length, 2, 'prompts without the trigger byte are unaffected');
    await assert.rejects(
      generateGreedy(opened.model, opened.tokenizer, [opened.tokenizer.encode('plain', { addBos: true }), opened.tokenizer.encode('has ~ in it', { addBos: true })], { maxNewTokens: 2 }),
      (e) => {
        assert.ok(e instanceof NonFiniteOutputError, String(e));
        assert.match(e.message, /the model computed a non-finite logit \(NaN for token \d+\) for prompt 1, new token 1/);
        return true;
      },
    );
  } finally {
    await opened.model.release();
  }
});
