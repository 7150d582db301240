/**
 * Intervention sanity on a real pretrained model (stories260K from ../shared/data; skipped when
 * absent) with a prompt set written for it: short TinyStories-style stories with a two-option
 * question. The directions come from the real pipeline (save-hidden-states, then directions
 * computed by the evaluation). Scale 0, run through the edit graph, must reproduce the baseline
 * item for item; a large positive and a large negative scale must change what the model writes;
 * the run file must record all of it. Shared-prefix reuse is also checked against full recompute
 * with this model's real (merging) tokenizer.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import { saveHiddenStates } from '../../runtime/cache/saveHiddenStates';
import { runEvaluation, runSweep } from '../../runtime/evaluate';
import type { RunFile } from '../../runtime/protocol/results';
import { sharedFile } from '../helpers/sharedData';
import { STORY_PROMPTS, writeStoryQuestions } from '../helpers/storyQuestions';
import { tmpDir } from '../helpers/tmp';

const stories = sharedFile('stories260K/stories260K.bin');


describe('intervention sanity on stories260K', { skip: stories.skip }, () => {
  const root = tmpDir('layerlab-eval-stories-');
  const dataFile = path.join(root, 'story-questions.json');
  let opened: OpenedModel;

  before(async () => {
    writeStoryQuestions(dataFile);
    opened = await openModel(stories.path, { provider: 'cpu', graphCacheDir: path.join(root, 'graphs'), threads: 1 });
    await saveHiddenStates(opened, { dataFile, outputPath: path.join(root, 'hs'), seed: 0, batchSize: 4, positions: 'last', dtype: 'float32', template: 'bare' });
  });
  after(async () => opened?.model.release());

  test('scale 0 reproduces the baseline item for item; ±8 change the generated text; the run file records it', async () => {
    const out = path.join(root, 'sanity.json');
    const o = await runSweep(
      {
        dataFile, hiddenStatesCachePath: path.join(root, 'hs'), split: 'overlap', layerIndices: [2], scales: [0, 8, -8], randomControls: 0,
        maxNewTokens: 24, batchSize: 4, out, argv: ['(test)'],
      },
      { model: opened.model, tokenizer: opened.tokenizer },
      // Scale 0 goes through the edit graph too, so "reproduces" is a statement about the edit, not about skipping it.
      { forceEditGraph: true },
    );
    const run = JSON.parse(fs.readFileSync(out, 'utf8')) as RunFile;
    assert.equal(run.complete, true);
    assert.equal(run.provider, 'cpu');
    assert.equal(run.spec.model.path, stories.path);
    assert.deepEqual(run.results.map((r) => [r.intervention.id, r.intervention.scale, r.intervention.layers, r.intervention.hook]), [
      ['baseline', 0, [], null],
      ['post@2 scale=0', 0, [2], 'hook_resid_post'],
      ['post@2 scale=8', 8, [2], 'hook_resid_post'],
      ['post@2 scale=-8', -8, [2], 'hook_resid_post'],
    ]);
    // The directions were computed from the cache of this very data.
    assert.equal(run.spec.directions!.path, path.join(root, 'hs', 'stories260K', 'story-questions.directions.safetensors'));
    const [baseline, zero, plus, minus] = run.results.map((r) => r.items);
    assert.equal(baseline!.length, STORY_PROMPTS.length);
    assert.ok(baseline!.every((i) => i.generated!.length > 0), 'the model writes something after every prompt');
    assert.deepEqual(zero, baseline, 'scale 0 must reproduce the baseline item for item');
    for (const [name, items] of [['+8', plus!], ['-8', minus!]] as const) {
      const changed = items.filter((it, i) => it.generated !== baseline![i]!.generated);
      assert.ok(changed.length >= STORY_PROMPTS.length / 2, `scale ${name} changed only ${changed.length} of ${items.length} generations`);
      // The prompts are the same; only what the model wrote differs.
      assert.deepEqual(items.map((i) => i.promptHash), baseline!.map((i) => i.promptHash));
    }
    assert.notDeepEqual(plus!.map((i) => i.generated), minus!.map((i) => i.generated));
    assert.equal(o.lines.filter((l) => l.startsWith('Layer [2] (post@2 scale=-8) - ')).length, 2);
  });

  test("few-shot prefix reuse with the real tokenizer matches full recompute", async () => {
    // The demo questions carry their own few-shot examples; two per category fit this model's context of 512.
    const spec = { dataFile: 'demo', withFewshotPrompts: true, shots: 2, sampleSize: 12, batchSize: 4, maxNewTokens: 12 };
    const reuse = await runEvaluation({ ...spec, out: path.join(root, 'fs-reuse.json') }, { model: opened.model, tokenizer: opened.tokenizer });
    const full = await runEvaluation({ ...spec, noPrefixReuse: true, out: path.join(root, 'fs-full.json') }, { model: opened.model, tokenizer: opened.tokenizer });
    assert.equal(reuse.run.warnings, undefined, 'every prompt passed the token check');
    assert.deepEqual(reuse.run.results[0]!.items.map((i) => [i.id, i.generated]), full.run.results[0]!.items.map((i) => [i.id, i.generated]));
    assert.ok(reuse.run.results[0]!.items.every((i) => i.promptTokens! > 150), 'the prompts hold the examples');
  });
});
