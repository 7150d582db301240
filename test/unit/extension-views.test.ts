// What the sidebar and status bar show, from plain data: folder scans, tree nodes, the
// status-bar item, progress increments and failure messages.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { describeFailure, progressStep, statusBarView, untrustedMessage } from '../../extension/presentation';
import { FileAnswers } from '../../extension/fileAnswers';
import { parseRecordQuery, recordDocumentText, recordQuery } from '../../extension/recordDocument';
import { RuntimeRequestError } from '../../extension/runtimeClient';
import { cacheFileNodes, cacheNodes, datasetNodes, formatBytes, modelNodes, RECORD_PAGE, runNodes } from '../../extension/treeData';
import { CACHE_FILE_RE, countRecords, directionsPathOf, directionStatsPathOf, scanDatasets, scanFiles, scanModels, scanRuns } from '../../extension/workspaceScan';
import { directionPaths } from '../../runtime/analysis/directions';
import type { DatasetInspection, ModelFacts, ModelInfo } from '../../runtime/protocol/requests';
import type { CacheEntryInfo, RunFile } from '../../runtime/protocol/results';
import { tmpDir } from '../helpers/tmp';

function write(file: string, content: string | object): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
}

const demoInfo = (p: string): ModelInfo => ({
  path: p,
  format: 'huggingface',
  architecture: 'llama',
  modelType: 'llama',
  contentHash: 'abc',
  dModel: 64,
  vocabSize: 259,
  maxSeqLen: 512,
  nBlocks: 2,
  blocks: [
    { index: 0, part: 'layer', label: 'layer 0' },
    { index: 1, part: 'layer', label: 'layer 1' },
  ],
  hookPoints: 4,
  options: {},
  weights: 'fp32',
  weightsBytes: 1000,
  tokenizer: p,
  provider: 'cpu',
  providerNote: 'CUDA provider libraries not installed',
  graphDir: '/g',
});

describe('workspace scans', () => {
  it('finds Hugging Face folders and llama2.c checkpoints (also in a folder of their own), not tokenizers or stray folders', async () => {
    const dir = tmpDir();
    write(path.join(dir, 'qwen', 'config.json'), { model_type: 'qwen2' });
    write(path.join(dir, 'broken', 'config.json'), '{ not json');
    write(path.join(dir, 'notamodel', 'readme.txt'), 'hi');
    write(path.join(dir, 'stories260K.bin'), Buffer.alloc(100).toString());
    write(path.join(dir, 'tok512.bin'), 'x');
    write(path.join(dir, 'tokenizer.bin'), 'x');
    // As llama2.c models are downloaded: the checkpoint and its tokenizer in one folder.
    write(path.join(dir, 'stories15M', 'stories15M.bin'), 'x'.repeat(30));
    write(path.join(dir, 'stories15M', 'tok512.bin'), 'x');
    const models = await scanModels(dir);
    assert.deepEqual(models.map((m) => [m.name, m.format]), [
      ['broken', 'huggingface'],
      ['qwen', 'huggingface'],
      ['stories15M/stories15M.bin', 'llama2c'],
      ['stories260K.bin', 'llama2c'],
    ]);
    assert.equal(models[2].path, path.join(dir, 'stories15M', 'stories15M.bin'));
    assert.equal(models[2].bytes, 30);
    assert.deepEqual(await scanModels(path.join(dir, 'does-not-exist')), [], 'a folder not created yet is empty');
  });

  it('counts dataset records in JSON arrays, named splits and JSON lines', async () => {
    const dir = tmpDir();
    write(path.join(dir, 'a.json'), [{ q: 1 }, { q: 2 }]);
    write(path.join(dir, 'popqa.json'), { dev: [1, 2, 3], test: [4] });
    write(path.join(dir, 'b.jsonl'), '{"q":1}\n\n{"q":2}\n{"q":3}\n');
    write(path.join(dir, 'bad.json'), '{"x": 1}');
    write(path.join(dir, 'c.parquet'), 'PAR1');
    write(path.join(dir, 'notes.txt'), 'x');
    const sets = await scanDatasets(dir);
    assert.deepEqual(sets.map((s) => [s.name, s.records, s.error === undefined]), [
      ['a.json', 2, true],
      ['b.jsonl', 3, true],
      ['bad.json', undefined, false],
      ['c.parquet', undefined, true],
      ['popqa.json', 4, true],
    ]);
    assert.deepEqual(sets[4].splits, { dev: 3, test: 1 });
    assert.throws(() => countRecords('"x"', 'json'), /not a list of records/);
  });

  it('lists runs newest first (the demo’s sweep among them), with unreadable files; other JSON is left out', async () => {
    const dir = tmpDir();
    const run: RunFile = {
      format: 'layerlab-run',
      version: 1,
      layerlabVersion: '0.1.0',
      createdAt: '2025-01-01T00:00:00Z',
      complete: false,
      spec: {
        command: 'evaluate',
        model: { path: '/m', contentHash: 'h', modelType: 'llama', options: {} },
        data: { path: '/d', contentHash: 'h', name: 'mmlu', kind: 'mmlu-pro' },
        split: 'holdout',
        sampleSize: 10,
        seed: 0,
        prompt: { template: 't', fewshot: false, cot: false },
        scoring: 'generate',
        maxNewTokens: 10,
        batchSize: 1,
        stopStrings: [],
        argv: [],
      },
      provider: 'cpu',
      progress: { done: 3, total: 10 },
      results: [
        {
          intervention: { id: 'baseline', kind: 'none', hook: null, layers: [], scale: 0, alpha: 0 },
          summary: {
            reasoning: { correct: 1, total: 2, unparsed: 0, accuracy: 0.5, ci95: [0, 1] },
            memorization: { correct: 1, total: 4, unparsed: 1, accuracy: 0.25, ci95: [0, 1] },
          },
          items: [],
          seconds: 1,
        },
      ],
      timing: { totalSeconds: 1, itemsPerSecond: 1 },
    };
    const sweep: RunFile = {
      ...run,
      complete: true,
      spec: { ...run.spec, command: 'sweep', data: { ...run.spec.data, name: 'demo-reason-mem' } },
      progress: { done: 10, total: 10 },
    };
    write(path.join(dir, 'runs', 'llama', 'eval.json'), run);
    write(path.join(dir, 'runs', 'stats.json'), { format: 'layerlab-directions' });
    write(path.join(dir, 'runs', 'torn.json'), '{"format": "layer');
    write(path.join(dir, 'runs', 'demo', 'demo-reason-mem.sweep.0123456789.json'), sweep);
    const t = Date.now() / 1000;
    fs.utimesSync(path.join(dir, 'runs', 'llama', 'eval.json'), t - 100, t - 100);
    fs.utimesSync(path.join(dir, 'runs', 'torn.json'), t - 200, t - 200);
    fs.utimesSync(path.join(dir, 'runs', 'demo', 'demo-reason-mem.sweep.0123456789.json'), t, t);
    const runs = await scanRuns(path.join(dir, 'runs'));
    assert.deepEqual(runs.map((r) => [r.kind, r.name]), [
      ['run', path.join('demo', 'demo-reason-mem.sweep.0123456789.json')],
      ['run', path.join('llama', 'eval.json')],
      ['unreadable', 'torn.json'],
    ]);
    const nodes = runNodes(runs);
    assert.equal(nodes[0].label, 'sweep · demo-reason-mem · m');
    assert.equal(nodes[0].kind, 'run');
    assert.match(nodes[0].description!, /^R 50\.0% \/ M 25\.0% · /);
    assert.deepEqual(nodes[0].command, { command: 'layerlab.openRunChart', title: 'Open Run Chart', arguments: [path.join(dir, 'runs', 'demo', 'demo-reason-mem.sweep.0123456789.json')] });
    assert.equal(nodes[1].label, 'evaluate · mmlu · m');
    assert.match(nodes[1].tooltip!, /\nscoring: generate ≤10 tokens\n/);
    assert.match(nodes[1].description!, /^partial 3\/10 · R 50\.0% \/ M 25\.0% · /);
    assert.equal(nodes[1].children?.[0].label, 'baseline');
    assert.equal(nodes[2].description, 'unreadable');
  });

  it('finds cache files recursively, leaving out the directions computed beside them', async () => {
    const dir = tmpDir();
    write(path.join(dir, 'mmlu', 'a.safetensors'), 'x'.repeat(2048));
    write(path.join(dir, 'mmlu', 'a.directions.safetensors'), 'x');
    write(path.join(dir, 'mmlu', 'a.directions.json'), '{}');
    write(path.join(dir, 'b.safetensors.partial'), 'x');
    const files = await scanFiles(dir, CACHE_FILE_RE);
    assert.deepEqual(files.map((f) => [f.name, f.bytes]), [[path.join('mmlu', 'a.safetensors'), 2048]]);
    const nodes = cacheFileNodes(files, 'why not');
    assert.equal(nodes[0].kind, 'cacheFile');
    assert.equal(nodes[0].description, '2.0 KB');
    assert.match(nodes[0].tooltip!, /why not/);
  });

  it('finds a cache’s direction statistics where compute-directions writes them', () => {
    for (const cache of ['/o/hidden_states/demo/demo-reason-mem.safetensors', '/o/x.y.safetensors']) {
      assert.equal(directionStatsPathOf(cache), directionPaths(cache).stats);
      assert.equal(directionsPathOf(cache), directionPaths(cache).directions);
    }
    assert.ok(!CACHE_FILE_RE.test(path.basename(directionPaths('/o/a.safetensors').directions)));
  });
});

describe('tree nodes', () => {
  it('shows what the runtime says of each model, how the loaded one runs, and why one cannot be read', () => {
    const qwenFacts: ModelFacts = { ...demoInfo('/m/qwen'), modelType: 'qwen2', nBlocks: 24, dModel: 896, hookPoints: 48 };
    const nodes = modelNodes(
      [
        { path: '/m/demo', name: 'demo', format: 'huggingface' },
        { path: '/m/qwen', name: 'qwen', format: 'huggingface' },
        { path: '/m/broken', name: 'broken', format: 'huggingface' },
        { path: '/m/s/s.bin', name: 's/s.bin', format: 'llama2c', bytes: 2048 },
      ],
      { facts: new Map([['/m/qwen', qwenFacts]]), factErrors: new Map([['/m/broken', '/m/broken/config.json: not JSON']]), loaded: demoInfo('/m/demo'), selectedPath: '/m/qwen' },
    );
    assert.equal(nodes[0].description, 'llama · 2 blocks · d_model 64 · CPU · loaded');
    assert.deepEqual(nodes[0].children?.map((c) => `${c.label}=${c.description}`), [
      'architecture=llama (llama graph)',
      'blocks=2 (4 hook points)',
      'd_model=64',
      'vocab=259',
      'format=Hugging Face folder',
      'provider=CPU (CUDA provider libraries not installed)',
    ]);
    assert.equal(nodes[1].description, 'qwen2 · 24 blocks · d_model 896 · selected');
    assert.equal(nodes[1].kind, 'model');
    assert.equal(nodes[1].resourcePath, '/m/qwen');
    assert.equal(nodes[2].description, 'Hugging Face · unreadable');
    assert.match(nodes[2].tooltip!, /the runtime cannot read it: \/m\/broken\/config\.json: not JSON/);
    assert.equal(nodes[2].icon, 'warning');
    assert.equal(nodes[3].description, 'llama2.c', 'before the runtime has described it');
    assert.deepEqual(nodes[3].children?.map((c) => c.description), ['llama2.c checkpoint, 2.0 KB']);
  });

  it('datasets open read-only on click and show their counts', () => {
    const [n] = datasetNodes([{ path: '/d/popqa.json', name: 'popqa.json', format: 'json', bytes: 3 * 1024 * 1024, records: 4, splits: { dev: 3, test: 1 } }]);
    assert.equal(n.description, 'dev 3, test 1 · 3.0 MB');
    assert.deepEqual(n.command, { command: 'layerlab.openDataset', title: 'Open Dataset', arguments: ['/d/popqa.json'] });
  });

  it('with the runtime’s inspection, datasets show label counts and expand to their records, then “… N more”', () => {
    const preview = Array.from({ length: RECORD_PAGE }, (_, i) => ({
      id: `q${i}`,
      index: i,
      question: `Question ${i}?`,
      ...(i % 2 ? { label: 'memorization' as const } : i === 0 ? {} : { label: 'reasoning' as const }),
      category: 'math',
      answer: 'B',
    }));
    const ins: DatasetInspection = {
      file: '/d/mmlu.json', kind: 'mmlu-pro', name: 'mmlu', records: 250,
      labels: { reasoning: 120, memorization: 125, unlabeled: 5 }, warnings: ['record 3: answer disagrees'], preview,
    };
    const entry = { path: '/d/mmlu.json', name: 'mmlu.json', format: 'json' as const, bytes: 2048, records: 250 };
    const [n] = datasetNodes([entry], new Map([['/d/mmlu.json', ins]]));
    assert.equal(n.description, '250 records · R 120 / M 125 / unlabeled 5 · 2.0 KB');
    assert.match(n.tooltip!, /mmlu-pro: 250 records\nreasoning 120, memorization 125, unlabeled 5\nwarning: record 3: answer disagrees/);
    assert.equal(n.icon, 'warning');
    assert.equal(n.command?.command, 'layerlab.openDataset');
    assert.equal(n.children!.length, RECORD_PAGE + 1);
    const [first, second] = n.children!;
    assert.deepEqual([first.kind, first.label, first.description], ['record', 'Question 0?', 'unlabeled · math · answer B']);
    assert.equal(second.description, 'memorization · math · answer B');
    assert.deepEqual(second.command, { command: 'layerlab.openRecord', title: 'Open Record', arguments: [{ file: '/d/mmlu.json', recordId: 'q1' }] });
    const more = n.children![RECORD_PAGE];
    assert.deepEqual([more.kind, more.label], ['message', '… 50 more']);

    // All records shown: no “more” node; no unlabeled: not mentioned.
    const small: DatasetInspection = { ...ins, records: 2, labels: { reasoning: 1, memorization: 1, unlabeled: 0 }, warnings: [], preview: preview.slice(1, 3) };
    const [m] = datasetNodes([entry], new Map([['/d/mmlu.json', small]]));
    assert.equal(m.description, '2 records · R 1 / M 1 · 2.0 KB');
    assert.equal(m.children!.length, 2);
    assert.equal(m.icon, 'database');
  });

  it('without the runtime, datasets keep the scanned count; a file the runtime cannot load says why', () => {
    const entry = { path: '/d/x.jsonl', name: 'x.jsonl', format: 'jsonl' as const, bytes: 10, records: 3 };
    const [plain] = datasetNodes([entry]);
    assert.equal(plain.description, '3 records · 10 B');
    assert.equal(plain.children, undefined);
    const [bad] = datasetNodes([entry], new Map(), new Map([['/d/x.jsonl', 'cannot tell the dataset kind']]));
    assert.equal(bad.icon, 'warning');
    assert.match(bad.tooltip!, /the runtime cannot load it: cannot tell the dataset kind/);
  });

  it('cache entries expand to hook points with shape, dtype and size', () => {
    const entry: CacheEntryInfo = {
      file: '/o/hidden_states/mmlu.safetensors',
      dataName: 'mmlu',
      complete: false,
      rowsDone: 10,
      rows: 30,
      dModel: 64,
      dtype: 'float32',
      positions: 'last',
      hooks: [{ name: 'blocks.0.hook_resid_post', shape: [30, 64], bytes: 30 * 64 * 4 }],
      provenance: { model: '/m/demo' },
    };
    const [n] = cacheNodes([entry]);
    assert.equal(n.kind, 'cacheEntry');
    assert.equal(n.label, 'mmlu · unknown model', 'a cache that does not record its model says so');
    assert.equal(n.description, 'mmlu.safetensors · blocks.0.hook_resid_post · 30 rows · float32 · partial 10/30');
    assert.equal(n.children?.[0].description, '[30, 64] float32 · 7.5 KB');
    assert.match(n.tooltip!, /model: \/m\/demo/);
  });

  it('formats sizes', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 5e9].map(formatBytes), ['0 B', '1023 B', '1.0 KB', '1.5 KB', '10 MB', '4.7 GB']);
  });
});

describe("the runtime's answers about files", () => {
  const ins = (file: string, records: number): DatasetInspection => ({
    file, kind: 'gsm8k', name: 'g', records, labels: { reasoning: records, memorization: 0, unlabeled: 0 }, warnings: [], preview: [],
  });

  it('asks the runtime once per file and modification time', async () => {
    let mtimeMs = 1;
    const cache = new FileAnswers<DatasetInspection>(async () => ({ mtimeMs, size: 10 }));
    const asked: string[] = [];
    const inspect = async (file: string) => {
      asked.push(file);
      return ins(file, asked.length);
    };
    const a = await cache.get('/d/a.json', inspect);
    const b = await cache.get('/d/a.json', inspect);
    assert.deepEqual(asked, ['/d/a.json']);
    assert.ok(a.ok && b.ok && a.value.records === 1 && b.value.records === 1);
    await cache.get('/d/b.json', inspect);
    assert.deepEqual(asked, ['/d/a.json', '/d/b.json']);
    mtimeMs = 2;
    const c = await cache.get('/d/a.json', inspect);
    assert.ok(c.ok && c.value.records === 3, 'a changed file is asked about again');
  });

  it('keeps the runtime’s refusal of a file, but not a failure to ask', async () => {
    const cache = new FileAnswers<DatasetInspection>(async () => ({ mtimeMs: 1, size: 1 }));
    let calls = 0;
    const refuse = async (): Promise<DatasetInspection> => {
      calls++;
      throw new RuntimeRequestError('data', 'not a dataset');
    };
    const answered = (e: unknown) => e instanceof RuntimeRequestError && e.kind === 'data';
    assert.deepEqual(await cache.get('/d/x.json', refuse, answered), { ok: false, error: 'not a dataset' });
    await cache.get('/d/x.json', refuse, answered);
    assert.equal(calls, 1);
    const stopped = async (): Promise<DatasetInspection> => {
      calls++;
      throw new RuntimeRequestError('stopped', 'the LayerLab runtime is not running');
    };
    await assert.rejects(cache.get('/d/y.json', stopped, answered), /not running/);
    await assert.rejects(cache.get('/d/y.json', stopped, answered), /not running/);
    assert.equal(calls, 3, 'asked again next time');
  });

  it('a record’s read-only document is its JSON, or says why there is none', () => {
    const q = recordQuery('/d/a b.json', 'q/1');
    assert.deepEqual(parseRecordQuery(q), { file: '/d/a b.json', id: 'q/1' });
    assert.equal(parseRecordQuery('nonsense'), undefined);
    const inspection = { ...ins('/d/a b.json', 1), preview: [{ id: 'q/1', index: 0, question: 'Why?', answer: '42', label: 'reasoning' as const }] };
    const text = recordDocumentText('/d/a b.json', 'q/1', inspection);
    assert.deepEqual(JSON.parse(text), { dataset: 'g', kind: 'gsm8k', file: '/d/a b.json', id: 'q/1', index: 0, question: 'Why?', answer: '42', label: 'reasoning' });
    assert.match(recordDocumentText('/d/a b.json', 'q/2', inspection), /record q\/2 is not in/);
    assert.match(recordDocumentText('/d/a b.json', 'q/1', undefined, 'runtime is not running'), /^\/\/ runtime is not running/);
  });
});

describe('status bar', () => {
  it('shows state, provider and model', () => {
    assert.equal(statusBarView({ state: 'stopped', trusted: true }).text, '$(circle-outline) LayerLab');
    assert.equal(statusBarView({ state: 'starting', trusted: true }).text, '$(loading~spin) LayerLab: starting');
    const ready = statusBarView({ state: 'ready', trusted: true });
    assert.equal(ready.text, '$(beaker) LayerLab: ready');
    assert.equal(ready.command, 'layerlab.selectModel', 'with no model, a click selects one');
    assert.equal(statusBarView({ state: 'ready', trusted: true, model: demoInfo('/m/demo') }).text, '$(beaker) LayerLab · CPU · demo');
    const busy = statusBarView({ state: 'busy', trusted: true, model: demoInfo('/m/demo'), progress: { job: 'evaluate', model: '/m/demo', done: 1, total: 3, message: 'batch 1', rate: 2, etaSeconds: 1 } });
    assert.equal(busy.text, '$(sync~spin) LayerLab 33% · 2.0/s · ETA 1 s · CPU · demo', 'progress with its rate and ETA');
    assert.match(busy.tooltip, /busy\nJob: evaluate on \/m\/demo — 1\/3 \(33%\), 2\.0\/s, ETA 1 s, batch 1\nModel: \/m\/demo/);
    const slow = statusBarView({ state: 'busy', trusted: true, model: demoInfo('/m/demo'), progress: { job: 'sweep', model: '/m/demo', done: 2460, total: 9840, rate: 0.07, etaSeconds: 105_000 } });
    assert.equal(slow.text, '$(sync~spin) LayerLab 25% · 0.1/s · ETA 29 h 10 min · CPU · demo');
  });

  it('during a job on another model, names the job’s model, not the one held before', () => {
    // Demo was selected; the job names qwen, which the runtime is still opening.
    const opening = statusBarView({ state: 'busy', trusted: true, model: demoInfo('/m/demo'), progress: { job: 'evaluate', model: '/m/qwen', done: 0, total: 0 } });
    assert.equal(opening.text, '$(sync~spin) LayerLab · opening qwen');
    assert.doesNotMatch(opening.text, /demo/);
    assert.match(opening.tooltip, /Job: evaluate on \/m\/qwen\nOpening \/m\/qwen \(releasing \/m\/demo\)/);
    // Once the runtime says it holds qwen (modelChanged), it is shown as loaded.
    const running = statusBarView({ state: 'busy', trusted: true, model: { ...demoInfo('/m/qwen') }, progress: { job: 'evaluate', model: '/m/qwen', done: 1, total: 4 } });
    assert.equal(running.text, '$(sync~spin) LayerLab 25% · CPU · qwen');
    // A llama2.c job names its file; the status bar names the model as the Models view does.
    const llama2c = statusBarView({ state: 'busy', trusted: true, progress: { job: 'save-hidden-states', model: '/m/stories260K/stories260K.bin', done: 0, total: 0 } });
    assert.equal(llama2c.text, '$(sync~spin) LayerLab · opening stories260K');
  });

  it('turns red on a crash, and offers a restart once LayerLab gave up', () => {
    const crashed = statusBarView({ state: 'crashed', trusted: true });
    assert.equal(crashed.alert, true);
    assert.equal(crashed.command, 'layerlab.showLog');
    const gaveUp = statusBarView({ state: 'crashed', trusted: true, gaveUp: 'it crashed 4 times' });
    assert.equal(gaveUp.text, '$(error) LayerLab: stopped');
    assert.equal(gaveUp.command, 'layerlab.restartRuntime');
    assert.match(gaveUp.tooltip, /it crashed 4 times/);
  });

  it('says so in an untrusted workspace', () => {
    const v = statusBarView({ state: 'stopped', trusted: false });
    assert.equal(v.text, '$(shield) LayerLab: restricted');
    assert.match(v.tooltip, /not trusted/);
    assert.match(untrustedMessage('Run Demo'), /Run Demo needs a trusted workspace/);
  });
});

describe('progress and failures', () => {
  it('turns done/total into percentage increments that never go backwards or past 100', () => {
    let pct = 0;
    const incs: number[] = [];
    for (const [done, total] of [[0, 4], [1, 4], [1, 4], [0, 4], [3, 4], [9, 4], [1, 0]]) {
      const s = progressStep(pct, { done, total });
      incs.push(s.increment);
      pct = s.percent;
    }
    assert.deepEqual(incs, [0, 25, 0, 0, 50, 25, 0]);
    assert.equal(pct, 100);
  });

  it('words each kind of failure with what to do', () => {
    const cancelled = describeFailure('Run Demo', new RuntimeRequestError('cancelled', 'cancelled'));
    assert.equal(cancelled.severity, 'info');
    assert.match(cancelled.message, /Run Demo was cancelled/);
    const busy = describeFailure('Evaluate', new RuntimeRequestError('busy', 'the runtime is busy (job sweep)', 'Wait for it to finish or cancel it, then try again.'));
    assert.equal(busy.severity, 'warning');
    assert.equal(busy.message, 'LayerLab: Evaluate did not start: the runtime is busy (job sweep). Wait for it to finish or cancel it, then try again.');
    const usage = describeFailure('Evaluate', new RuntimeRequestError('usage', '--scoring must be generate or loglik'));
    assert.deepEqual(usage.actions, [{ title: 'Show Runtime Log', command: 'layerlab.showLog' }]);
    const crashed = describeFailure('Evaluate', new RuntimeRequestError('crashed', 'the LayerLab runtime stopped unexpectedly (killed by SIGKILL)'));
    assert.equal(crashed.severity, 'error');
    assert.match(crashed.message, /Evaluate failed because the LayerLab runtime stopped unexpectedly \(killed by SIGKILL\)/);
    assert.deepEqual(crashed.actions.map((a) => a.command), ['layerlab.showLog', 'layerlab.restartRuntime']);
    assert.match(describeFailure('X', new Error('boom')).message, /X failed: boom/);
  });
});

describe('sharded outputs (--shard i/N) in the Cache and Runs views', () => {
  const runPart = (index: number, complete: boolean, target: string): RunFile => ({
    format: 'layerlab-run',
    version: 1,
    layerlabVersion: '0.1.0',
    createdAt: '2025-01-01T00:00:00Z',
    complete,
    spec: {
      command: 'evaluate',
      model: { path: '/m', contentHash: 'h', modelType: 'llama', options: {} },
      data: { path: '/d', contentHash: 'h', name: 'mmlu', kind: 'mmlu-pro' },
      split: 'holdout', sampleSize: 10, seed: 0, prompt: { template: 't', fewshot: false, cot: false },
      scoring: 'generate', maxNewTokens: 10, batchSize: 1, stopStrings: [], argv: [],
      shard: { index, count: 3, target },
    },
    provider: 'cpu',
    progress: { done: complete ? 4 : 1, total: 4 },
    results: [],
    timing: { totalSeconds: 1, itemsPerSecond: 1 },
  });

  it('groups the parts of an unmerged run into one node: parts done of all, each part’s state; a merged run’s parts are not listed', async () => {
    const dir = tmpDir();
    const runs = path.join(dir, 'runs');
    const parts = path.join(runs, 'shards', 'evaluate-0123456789ab');
    const target = path.join(runs, 'llama', 'mmlu.evaluate.x.json');
    write(path.join(parts, 'part-0-of-3.json'), runPart(0, true, target));
    write(path.join(parts, 'part-2-of-3.json'), runPart(2, false, target));
    const nodes = runNodes(await scanRuns(runs));
    assert.equal(nodes.length, 1, 'one node for the sharded run, not one per part');
    const [n] = nodes;
    assert.equal(n.kind, 'shardedOutput');
    assert.equal(n.label, 'evaluate · mmlu');
    assert.match(n.description!, /^sharded 1\/3 parts, 1 running or interrupted · 5 items done · /);
    assert.equal(n.resourcePath, parts);
    assert.equal(n.command, undefined, 'no chart until merged');
    assert.deepEqual(n.children?.map((c) => [c.label, c.description]), [['part 0/3', 'done'], ['part 1/3', 'not started'], ['part 2/3', 'started, 1/4 items']]);
    // Once the merged run file exists, it is listed itself and its parts are not.
    write(target, { ...runPart(0, true, target), spec: { ...runPart(0, true, target).spec, shard: undefined } });
    const after = runNodes(await scanRuns(runs));
    assert.deepEqual(after.map((x) => [x.kind, x.resourcePath]), [['run', target]]);
  });

  it('a sharded cache not merged yet shows its parts done of all and the rows done over them; part files are not cache files', async () => {
    const entry: CacheEntryInfo = {
      file: '/o/hidden_states/demo/mmlu.safetensors', dataName: 'mmlu', complete: false, rowsDone: 120, rows: 200, dModel: 64, dtype: 'float32', positions: 'last',
      hooks: [], provenance: {},
      shards: { dir: '/o/hidden_states/shards/save-hidden-states-0123', count: 4, done: [0, 3], started: [1], target: '/o/hidden_states/demo/mmlu.safetensors', merged: false },
    };
    const [n] = cacheNodes([entry]);
    assert.equal(n.kind, 'shardedOutput', 'not a cacheEntry: no Compute Directions on a cache that does not exist yet');
    assert.equal(n.description, 'mmlu.safetensors · sharded 2/4 parts, 1 running or interrupted · 120/200 rows');
    assert.deepEqual(n.children?.map((c) => c.description), ['done', 'started', 'not started', 'done']);
    const [all] = cacheNodes([{ ...entry, shards: { ...entry.shards!, done: [0, 1, 2, 3], started: [] } }]);
    assert.match(all.description!, /sharded 4\/4 parts, not merged yet/);
    const dir = tmpDir();
    write(path.join(dir, 'shards', 'x', 'part-0-of-4.safetensors'), 'x');
    write(path.join(dir, 'demo', 'mmlu.safetensors'), 'x');
    assert.deepEqual((await scanFiles(dir, CACHE_FILE_RE)).map((f) => f.name), [path.join('demo', 'mmlu.safetensors')]);
  });
});
