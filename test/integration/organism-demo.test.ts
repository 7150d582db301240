/**
 * `npm run demo`'s pipeline (runtime/demo.ts) on the model organism, in a fresh workspace: it
 * must find a direction that separates reasoning from memorization questions it never saw, and
 * an intervention along it that moves an accuracy beyond its Wilson interval while the random
 * direction at the same point does not. Every number asserted is read from the files the
 * pipeline wrote (statistics and run file); the summary it returns must say the same.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ORGANISM_DIR, ORGANISM_FILES } from '../../models/organism';
import { writeDemoDataset } from '../../datasets';
import { writeDemoModel } from '../../models/demo';
import { saveHiddenStates } from '../../runtime/cache/saveHiddenStates';
import { demoDatasetJson, demoPaths, DEMO_DATA_NAME, DEMO_HOLDOUT, DEMO_RECORDS, runDemoPipeline, writeDemoInputs, type DemoPaths, type DemoResult } from '../../runtime/demo';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import type { Accuracy, DirectionStatsFile, InterventionResult, RunFile, Subset } from '../../runtime/protocol/results';
import { tmpDir } from '../helpers/tmp';

const ws = tmpDir('layerlab-organism-demo-');
const readJson = <T>(f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as T;
/** Outside the interval: the test's own reading of "the interval excludes the baseline". */
const excludes = (a: Accuracy, value: number) => value < a.ci95[0] || value > a.ci95[1];
const SUBSETS: Subset[] = ['reasoning', 'memorization'];

describe('demo pipeline on the model organism', () => {
  let p: DemoPaths;
  let opened: OpenedModel;
  let result: DemoResult;
  let run: RunFile;
  let stats: DirectionStatsFile;
  const logs: string[] = [];
  let oldCache = '';

  before(async () => {
    p = demoPaths({ modelsPath: path.join(ws, 'models'), datasetsPath: path.join(ws, 'datasets'), outputPath: path.join(ws, 'output') });
    // A workspace from an older LayerLab: its demo folder holds the random-weight demo model,
    // with a hidden-state cache of the old demo dataset under the same names.
    writeDemoModel(p.modelDir);
    fs.mkdirSync(path.dirname(p.dataFile), { recursive: true });
    writeDemoDataset(p.dataFile, { n: DEMO_RECORDS, seed: 0 });
    const old = await openModel(p.modelDir, { provider: 'cpu', graphCacheDir: path.join(ws, 'graphs') });
    try {
      const c = await saveHiddenStates(old, { dataFile: p.dataFile, dataName: DEMO_DATA_NAME, outputPath: p.cacheRoot, seed: 0, batchSize: 8, positions: 'last', dtype: 'float32', hooks: ['all'] });
      oldCache = c.file;
    } finally {
      await old.model.release();
    }
    writeDemoInputs(p);
    opened = await openModel(p.modelDir, { provider: 'cpu', graphCacheDir: path.join(ws, 'graphs') });
    result = await runDemoPipeline(opened, p, { step: () => {}, log: (m) => logs.push(m) });
    run = readJson<RunFile>(result.runFile);
    stats = readJson<DirectionStatsFile>(result.statsFile);
  });
  after(async () => {
    await opened?.model.release();
  });

  it('replaces an older demo model, dataset and cache by the organism\u2019s, and writes its test questions as the demo dataset', () => {
    assert.ok(logs.some((m) => /^replacing the demo cache .*demo-reason-mem\.safetensors/.test(m)), logs.join('\n'));
    assert.equal(result.cacheFile, oldCache, 'the same place, now written by the organism');
    for (const f of ORGANISM_FILES) assert.deepEqual(fs.readFileSync(path.join(p.modelDir, f)), fs.readFileSync(path.join(ORGANISM_DIR, f)), f);
    assert.equal(fs.readFileSync(p.dataFile, 'utf8'), demoDatasetJson());
    assert.equal(JSON.parse(demoDatasetJson()).length, DEMO_RECORDS);
    assert.equal(run.spec.model.contentHash, opened.checkpoint.contentHash);
  });

  it('evaluates only questions the direction was not computed from, both kinds', () => {
    assert.equal(run.complete, true);
    assert.equal(run.spec.split, 'holdout');
    assert.equal(run.spec.splitDetail?.excluded, DEMO_RECORDS * (1 - DEMO_HOLDOUT));
    const base = run.results.find((r) => r.intervention.kind === 'none')!;
    for (const s of SUBSETS) assert.equal(base.summary[s].total, (DEMO_RECORDS * DEMO_HOLDOUT) / 2, s);
    assert.deepEqual([...new Set(run.results.map((r) => r.intervention.kind))], ['none', 'direction', 'random-direction']);
  });

  it('the direction separates the two kinds on held-out questions: AUC ≥ 0.9 at some block', () => {
    const best = Math.max(...stats.layers.map((l) => l.heldOut!.auc ?? -Infinity));
    assert.ok(best >= 0.9, `best held-out AUC ${best}`);
    assert.ok(stats.layers.every((l) => l.heldOut!.n === DEMO_RECORDS * DEMO_HOLDOUT));
    assert.equal(result.summary.bestSeparation?.heldOutAuc, best);
  });

  it('an intervention along the direction moves an accuracy beyond its interval while its matched random control does not', () => {
    const base = run.results.find((r) => r.intervention.kind === 'none')!;
    const control = (r: InterventionResult) => run.results.find((c) => c.intervention.kind === 'random-direction' &&
      c.intervention.hook === r.intervention.hook && c.intervention.layers.join() === r.intervention.layers.join() &&
      c.intervention.scale === r.intervention.scale && c.intervention.alpha === r.intervention.alpha);
    const clean: string[] = [];
    let controlsMoved = 0;
    for (const r of run.results.filter((x) => x.intervention.kind === 'direction')) {
      const c = control(r);
      assert.ok(c, `a random control for ${r.intervention.id}`);
      for (const s of SUBSETS) {
        const b = base.summary[s].accuracy;
        if (excludes(c.summary[s], b)) controlsMoved++;
        if (excludes(r.summary[s], b) && !excludes(c.summary[s], b)) clean.push(`${r.intervention.id} ${s}`);
      }
    }
    assert.ok(clean.length > 0, 'no direction intervention moved accuracy beyond its interval with a quiet control');
    assert.equal(controlsMoved, 0, 'no random control moved accuracy beyond its interval');
    // The summary's headline is one of these, with the run file's numbers.
    const h = result.summary.headline!;
    assert.ok(clean.includes(`${h.intervention} ${h.subset}`), `${h.intervention} ${h.subset}`);
    const r = run.results.find((x) => x.intervention.id === h.intervention)!;
    assert.deepEqual(h.result, r.summary[h.subset]);
    assert.deepEqual(h.baseline, base.summary[h.subset]);
    assert.match(result.summary.lines.join('\n'), new RegExp(`to ${Math.round(100 * h.result.accuracy)}% \\(${h.result.correct}/${h.result.total}`));
    assert.match(result.summary.lines.join('\n'), /0 of \d+ matched random controls did/);
  });

  it('writeDemoInputs leaves an up-to-date workspace untouched', () => {
    const files = [...ORGANISM_FILES.map((f) => path.join(p.modelDir, f)), p.dataFile];
    const before = files.map((f) => fs.statSync(f).mtimeMs);
    writeDemoInputs(p);
    assert.deepEqual(files.map((f) => fs.statSync(f).mtimeMs), before);
  });
});
