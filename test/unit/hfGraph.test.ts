/**
 * Generated Hugging Face folders (Llama and Qwen2-style) through the whole loading path —
 * reader, graph build, ONNX Runtime — against the independent reference forward pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { writeDemoModel, type DemoModelOptions } from '../../models/demo';
import { readHfCheckpoint } from '../../models/hf/checkpoint';
import { allHookNames } from '../../models/graph/spec';
import { openModel } from '../../runtime/openModel';
import { referenceForward } from '../../runtime/reference/llamaForward';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir();
const CASES: [string, DemoModelOptions][] = [
  ['llama, tied, GQA', { seed: 11, nLayers: 3 }],
  ['qwen2, q/k/v bias, untied, fp16 file', { seed: 12, modelType: 'qwen2', tied: false, dtype: 'F16', nKvHeads: 1 }],
];

for (const [name, opts] of CASES) {
  test(`${name}: hook points and logits match the reference (1e-4)`, async () => {
    const dir = writeDemoModel(path.join(root, name.replace(/\W+/g, '-')), opts).dir;
    const ckpt = readHfCheckpoint(dir);
    const opened = await openModel(dir, { provider: 'cpu', graphCacheDir: path.join(root, 'graphs') });
    try {
      const ids = opened.tokenizer.encode('Q: 2+2?\nA:', { addBos: true });
      const ref = referenceForward(ckpt, ids);
      const hooks = allHookNames(ckpt.config.nLayers);
      const r = await opened.model.forward([ids], undefined, { reads: hooks.map((hook) => ({ hook, positions: 'all' })), allLogits: true });
      const d = ckpt.config.dModel;
      const V = ckpt.config.vocabSize;
      let worst = 0;
      for (let l = 0; l < ckpt.config.nLayers; l++) {
        const pre = r.reads.get(`blocks.${l}.hook_resid_pre`)![0];
        const post = r.reads.get(`blocks.${l}.hook_resid_post`)![0];
        ids.forEach((_, t) => {
          for (let j = 0; j < d; j++) {
            worst = Math.max(worst, Math.abs(pre[t * d + j] - ref.residPre[l][t][j]), Math.abs(post[t * d + j] - ref.residPost[l][t][j]));
          }
        });
      }
      ids.forEach((_, t) => {
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(r.logits[0][t * V + v] - ref.logits[t][v]));
      });
      assert.ok(worst <= 1e-4, `max |diff| ${worst}`);
    } finally {
      await opened.model.release();
    }
  });
}
