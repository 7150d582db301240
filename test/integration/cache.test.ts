/**
 * The hidden-state cache end to end: its rows are the model's own hidden states, it reads back
 * with an independent safetensors parser (what a Python user's numpy snippet does), a run killed
 * with SIGKILL at random moments resumes to a byte-identical file, and memory does not grow
 * with the number of records.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { writeDemoDataset } from '../../datasets/demo';
import { loadDataset } from '../../datasets';
import { openModel } from '../../runtime/openModel';
import { saveHiddenStates } from '../../runtime/cache/saveHiddenStates';
import { promptEncoder } from '../../runtime/prompting';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const root = tmpDir();
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const demoModel = writeDemoModel(path.join(root, 'demo-model')).dir;

/** A deliberately independent reader: the same 20 lines a numpy user would write. */
function readSafetensorsIndependently(file: string): { meta: Record<string, string>; tensors: Record<string, { shape: number[]; data: Float32Array }> } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  let expectedStart = 0;
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  for (const [name, info] of entries) {
    assert.equal(info.dtype, 'F32');
    const [s, e] = info.data_offsets;
    assert.equal(s, expectedStart, `${name} starts where the previous tensor ended`);
    assert.equal(e - s, info.shape.reduce((a, b) => a * b, 1) * 4, `${name} byte length matches its shape`);
    expectedStart = e;
    const copy = Buffer.from(buf.subarray(base + s, base + e));
    tensors[name] = { shape: info.shape, data: new Float32Array(copy.buffer, copy.byteOffset, (e - s) / 4) };
  }
  assert.equal(base + expectedStart, buf.length, 'tensors cover the data area exactly');
  assert.equal((8 + n) % 8, 0, 'data area is 8-byte aligned');
  return { meta: header.__metadata__, tensors };
}

const stories = sharedFile('stories260K/stories260K.bin');
describe('cache rows are the model’s hidden states (stories260K)', { skip: stories.skip }, () => {
  test('last-token rows equal forward(), batch 4 with left padding equals batch 1 (1e-5)', async () => {
    const dataFile = path.join(root, 'stories-prompts.json');
    const prompts = ['Once upon a time', 'Lily', 'The cat sat on the mat and looked at the big red ball', 'Tom was sad.', 'One day', 'A bird'];
    fs.writeFileSync(
      dataFile,
      JSON.stringify(prompts.map((p, i) => ({ question_id: i, question: p, options: ['yes', 'no'], answer: 'A', answer_index: 0, category: 'story', memory_reason_score: i % 2 ? 0.9 : 0.1 }))),
    );
    const opened = await openModel(stories.path, { provider: 'cpu', graphCacheDir: path.join(root, 'cache', 'graphs') });
    try {
      const out4 = path.join(root, 'hs-b4');
      const out1 = path.join(root, 'hs-b1');
      const common = { dataFile, outputPath: out4, seed: 0, positions: 'last' as const, dtype: 'float32' as const, template: 'bare' };
      const r4 = await saveHiddenStates(opened, { ...common, batchSize: 4 });
      const r1 = await saveHiddenStates(opened, { ...common, outputPath: out1, batchSize: 1 });
      const c4 = readSafetensorsIndependently(r4.file);
      const c1 = readSafetensorsIndependently(r1.file);
      assert.deepEqual(JSON.parse(c4.meta.record_ids), ['0', '1', '2', '3', '4', '5']);
      const ds = await loadDataset(dataFile);
      const enc = promptEncoder(opened.tokenizer, { kind: 'bare' });
      const d = 64;
      for (const [hook, t4] of Object.entries(c4.tensors)) {
        assert.deepEqual(t4.shape, [6, d]);
        for (let i = 0; i < prompts.length; i++) {
          const single = await opened.model.forward([enc.tokens(ds.records[i])], undefined, { reads: [{ hook, positions: 'last' }] });
          const want = single.reads.get(hook)![0];
          for (let j = 0; j < d; j++) {
            assert.ok(Math.abs(t4.data[i * d + j] - want[j]) <= 1e-5, `${hook} row ${i} (batch 4) col ${j}`);
            assert.ok(Math.abs(c1.tensors[hook].data[i * d + j] - want[j]) <= 1e-5, `${hook} row ${i} (batch 1) col ${j}`);
          }
        }
      }
    } finally {
      await opened.model.release();
    }
  });
});

describe('crash safety', () => {
  const dataFile = path.join(root, 'demo-600.json');
  writeDemoDataset(dataFile, { n: 600, seed: 3 });
  const args = (out: string) => ['save-hidden-states', '--model', demoModel, '--data_file_path', dataFile, '--output_path', out, '--data_batch_size', '8', '--hooks', 'all', '--dtype', 'float16'];

  test('SIGKILL at random moments, then re-running, gives a byte-identical file', async () => {
    const clean = path.join(root, 'clean');
    const r = runCli(args(clean), env);
    assert.equal(r.status, 0, r.stderr);
    const cleanFile = r.stdout.trim();

    const crashed = path.join(root, 'crashed');
    const finalFile = path.join(crashed, 'demo-model', 'demo-600.safetensors');
    const partial = `${finalFile}.partial`;
    // Kill at moments tied to the job's own progress rather than to wall-clock delays, so a slow
    // or loaded machine still kills mid-job: as soon as the partial folder exists, then at random
    // moments after some batches were committed.
    const committed = () => {
      try {
        return JSON.parse(fs.readFileSync(path.join(partial, 'progress.json'), 'utf8')).rowsDone as number;
      } catch {
        return 0;
      }
    };
    let kills = 0;
    for (const [label, ready] of [
      ['partial folder created', () => fs.existsSync(partial)],
      ['some rows committed', () => committed() > 0],
      ['more rows committed', () => committed() > 80],
    ] as [string, () => boolean][]) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime/cli/main.ts'), ...args(crashed)], {
        cwd: ROOT,
        env: { ...process.env, ...env, ORT_DISABLE_TELEMETRY: '1' },
        stdio: 'ignore',
      });
      let finished = false;
      const exited = new Promise((res) => child.on('exit', () => ((finished = true), res(undefined))));
      const before = committed();
      const deadline = Date.now() + 60_000;
      while (!finished && !(ready() && (committed() > before || label === 'partial folder created')) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 10));
      }
      await new Promise((res) => setTimeout(res, Math.floor(Math.random() * 120)));
      assert.ok(!finished, `the run finished before it could be killed (${label}); make the job longer`);
      child.kill('SIGKILL');
      await exited;
      kills++;
      assert.ok(!fs.existsSync(finalFile) || !fs.existsSync(partial), 'a final file only exists once complete');
    }
    assert.ok(fs.existsSync(partial), 'the killed runs left a partial cache to resume');
    const progress = JSON.parse(fs.readFileSync(path.join(partial, 'progress.json'), 'utf8'));
    assert.ok(progress.rowsDone > 0 && progress.rowsDone < 600, `some rows were committed before the kills (${progress.rowsDone})`);
    const inspect = runCli(['inspect-cache', crashed, '--json'], env);
    const entries = JSON.parse(inspect.stdout).caches;
    assert.equal(entries[0].complete, false, 'the partial cache is listed as incomplete');

    const resumed = runCli(args(crashed), env);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed after \d+ records/);
    assert.ok(fs.readFileSync(resumed.stdout.trim()).equals(fs.readFileSync(cleanFile)), `file after ${kills} kills and a resume is byte-identical`);
    assert.ok(!fs.existsSync(partial), 'the partial folder is removed once complete');

    const again = runCli(args(crashed), env);
    assert.match(again.stderr, /already complete/);
  });

  test('a partial written with other settings is not silently mixed in', () => {
    const out = path.join(root, 'mixed');
    const partial = path.join(out, 'demo-model', 'demo-600.safetensors.partial');
    fs.mkdirSync(partial, { recursive: true });
    fs.writeFileSync(path.join(partial, 'job.json'), '{"other":"settings"}');
    const r = runCli(args(out), env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /partial cache written with different settings/);
  });

  test('an unwritable output folder gives a clear error', { skip: process.getuid?.() === 0 ? 'running as root: permissions are not enforced' : false }, () => {
    const out = path.join(root, 'readonly');
    fs.mkdirSync(out);
    fs.chmodSync(out, 0o500);
    const r = runCli(args(out), env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /choose a writable --output_path|permission/i);
  });
});

describe('memory', () => {
  test('peak RSS while caching does not grow with the number of records (after 400 vs after 2,000)', (t) => {
    // One run over 2,000 records, reading the process's peak RSS after 400 records (past the
    // warm-up: ONNX Runtime's arena, V8's first heap growth) and at the end. Comparing two
    // separate runs instead mixes in that warm-up, which a 200-record run does not finish.
    const dataFile = path.join(root, 'mem-2000.json');
    writeDemoDataset(dataFile, { n: 2000, seed: 1 });
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', `
        const { openModel } = require(${JSON.stringify(path.join(ROOT, 'runtime/openModel.ts'))});
        const { saveHiddenStates } = require(${JSON.stringify(path.join(ROOT, 'runtime/cache/saveHiddenStates.ts'))});
        (async () => {
          const opened = await openModel(${JSON.stringify(demoModel)}, { provider: 'cpu' });
          const marks = {};
          await saveHiddenStates(opened, {
            dataFile: ${JSON.stringify(dataFile)}, outputPath: ${JSON.stringify(path.join(root, 'mem-out'))}, seed: 0, batchSize: 8,
            positions: 'last', dtype: 'float32', hooks: ['all'],
            onProgress: (done) => { if (done >= 400 && marks.at400 === undefined) marks.at400 = process.resourceUsage().maxRSS; },
          });
          marks.end = process.resourceUsage().maxRSS;
          console.log(JSON.stringify(marks));
        })();`],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env, ORT_DISABLE_TELEMETRY: '1' } },
    );
    assert.equal(child.status, 0, child.stderr);
    const marks = JSON.parse(child.stdout.trim().split('\n').pop()!) as { at400: number; end: number };
    const at400 = marks.at400 / 1024;
    const end = marks.end / 1024;
    t.diagnostic(`peak RSS: ${at400.toFixed(1)} MB after 400 records, ${end.toFixed(1)} MB after 2,000`);
    assert.ok(end - at400 < 6, `peak RSS grew from ${at400.toFixed(1)} MB after 400 records to ${end.toFixed(1)} MB after 2,000`);
  });
});
