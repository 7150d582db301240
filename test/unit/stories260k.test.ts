/**
 * The real pretrained llama2.c model through the instrumented ONNX graph: greedy decoding from
 * BOS reproduces the golden ids of an independent implementation, in both file layouts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { openModel } from '../../runtime/openModel';
import { generateGreedy } from '../../runtime/generate';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const golden = sharedFile('stories260K/golden_greedy_from_BOS.json');
const cache = tmpDir('layerlab-graphs-');

describe('stories260K golden greedy decoding', { skip: golden.skip }, () => {
  for (const file of ['stories260K.bin', 'stories260K_v1.bin']) {
    test(`${file}: 64 greedy tokens from BOS and position-0 logits`, async () => {
      const g = JSON.parse(fs.readFileSync(golden.path, 'utf8')).stories260K;
      const opened = await openModel(sharedFile(`stories260K/${file}`).path, { provider: 'cpu', graphCacheDir: cache });
      try {
        const r = await opened.model.forward([[1]]);
        const first16: number[] = g.logits_pos0_after_BOS.first16;
        first16.forEach((want, i) => assert.ok(Math.abs(r.logits[0][i] - want) <= 1e-4, `logit ${i}: ${r.logits[0][i]} vs ${want}`));
        const l2 = Math.hypot(...r.logits[0]);
        assert.ok(Math.abs(l2 - g.logits_pos0_after_BOS.l2) <= 1e-3, `logits l2 ${l2}`);
        const [gen] = await generateGreedy(opened.model, opened.tokenizer, [[1]], { maxNewTokens: g.steps, stopAtEos: false });
        assert.deepEqual([1, ...gen.ids], g.greedy_ids);
        assert.ok(gen.text.startsWith('Once upon a time'), gen.text);
      } finally {
        await opened.model.release();
      }
    });
  }
});
