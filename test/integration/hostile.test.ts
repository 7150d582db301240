/**
 * Hostile cases (issue 13), each through the real `layerlab` CLI as a child process, each
 * asserting the exit code, a message that names the file / record / flag concerned, and that
 * good output written earlier is unchanged (sha256 of every file before and after):
 *
 *  - two concurrent writers of one cache; kill -9 while a cache is assembled and at random
 *    moments and between the renames of compute-directions, then resume to identical bytes;
 *  - a disk that fills and a read-only output folder (real tmpfs mounts, as root);
 *  - a 1 MB question, and Ctrl-C while a large dataset is tokenized;
 *  - NaN weights, NaN hidden states, NaN caches, a held-out split that leaves one label;
 *  - UTF-16 and Latin-1 datasets;
 *  - a 40 KB command line with ONNX Runtime's telemetry on (it used to segfault).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoDataset } from '../../datasets/demo';
import { writeDemoModel } from '../../models/demo';
import { openSafetensors, writeSafetensors } from '../../models/safetensors';
import { loadDirections } from '../../runtime/analysis/directions';
import { runCli } from '../helpers/cli';
import { writeNonFiniteWeightModel, writeOverflowModel } from '../helpers/hostileModels';
import { cannotMount, mountTmpfs, snapshotDir } from '../helpers/mounts';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const root = tmpDir('layerlab-hostile-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const demoModel = writeDemoModel(path.join(root, 'demo-model')).dir;
const data = path.join(root, 'demo-200.json');
writeDemoDataset(data, { n: 200, seed: 3 });
const stories = sharedFile('stories260K/stories260K.bin');

const saveArgs = (out: string, dataFile = data, model = demoModel) =>
  ['save-hidden-states', '--model', model, '--data_file_path', dataFile, '--output_path', out, '--data_batch_size', '8', '--hooks', 'all', '--dtype', 'float16'];
const cacheIn = (out: string, dataFile = data, model = demoModel) => path.join(out, path.basename(model).replace(/\.bin$/, ''), `${path.basename(dataFile, '.json')}.safetensors`);
const dirsOf = (cache: string) => ({ st: cache.replace(/\.safetensors$/, '.directions.safetensors'), json: cache.replace(/\.safetensors$/, '.directions.json') });

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The CLI as a child process that the test can signal while it runs. */
function spawnCli(args: string[], extraEnv: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, stderr: () => err, exited };
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

const sha = (f: string) => spawnSync('sha256sum', [f], { encoding: 'utf8' }).stdout.split(' ')[0];

/** Files beside an output that must not survive a run: temporaries, journals, locks, partials. */
function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => /\.tmp-\d+$|\.commit$|\.lock(\.|$)|\.partial$/.test(n));
}

/** Every file under a folder (an output folder may exist, empty, after a refused run took its lock). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return Object.keys(snapshotDir(dir));
}

// One clean cache and directions pair, the reference every resumed or repeated run must equal.
const clean = path.join(root, 'clean');
const cleanCache = cacheIn(clean);
let cleanDirs: { st: string; json: string };
test('setup: a clean cache and directions', () => {
  const r = runCli(saveArgs(clean), env);
  assert.equal(r.status, 0, r.stderr);
  const d = runCli(['compute-directions', cleanCache, '--holdout', '0.2'], env);
  assert.equal(d.status, 0, d.stderr);
  cleanDirs = dirsOf(cleanCache);
});

describe('two writers, and kill -9', () => {
  test('two concurrent save-hidden-states: the second fails at once naming the first; the cache equals a single run’s', async () => {
    const out = path.join(root, 'race');
    const file = cacheIn(out);
    // The first run pauses 150 ms after each batch, so it is certainly still writing when the
    // second starts (a second tsx process takes a few seconds to get going).
    const first = spawnCli(saveArgs(out), { LAYERLAB_FAILPOINT: 'cache:rows-written:sleep=150' });
    await until(() => fs.existsSync(path.join(`${file}.partial`, 'progress.json')), 'the first run to commit a batch');
    const second = runCli(saveArgs(out), env);
    assert.ok(!fs.existsSync(file), 'the second run returned while the first was still writing');
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`${file} is being written by another LayerLab process \\(pid ${first.child.pid}, started \\S+, command: .*save-hidden-states.*\\), as a hidden-state cache\\. Wait for it to finish`));
    assert.deepEqual(await first.exited, { code: 0, signal: null }, first.stderr());
    assert.equal(sha(file), sha(cleanCache), 'the cache is byte-identical to a single run’s');
    assert.deepEqual(leftovers(path.dirname(file)), []);
  });

  test('kill -9 while the finished cache is assembled: the next run removes the temporary file and gives identical bytes', () => {
    const out = path.join(root, 'assemble');
    const file = cacheIn(out);
    const killed = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime/cli/main.ts'), ...saveArgs(out)], {
      cwd: ROOT, env: { ...process.env, ...env, ORT_DISABLE_TELEMETRY: '1', LAYERLAB_FAILPOINT: `temp-written:${path.basename(file)}` },
    });
    assert.equal(killed.signal, 'SIGKILL');
    const temps = fs.readdirSync(path.dirname(file)).filter((n) => n.startsWith(`${path.basename(file)}.tmp-`));
    assert.equal(temps.length, 1, 'the killed run left its temporary cache file');
    assert.ok(fs.statSync(path.join(path.dirname(file), temps[0])).size > 100_000, '(a whole cache’s worth of disk)');
    const r = runCli(saveArgs(out), env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resumed after 200 records/);
    assert.equal(sha(file), sha(cleanCache));
    assert.deepEqual(leftovers(path.dirname(file)), [], 'no temporary file survives the next run');
  });

  test('kill -9 during compute-directions, at random moments and between its two renames: old pair or new, never silently mixed; the rerun is identical', async () => {
    const dir = path.join(root, 'dirs-kill');
    fs.mkdirSync(dir);
    const cache = path.join(dir, path.basename(cleanCache));
    fs.copyFileSync(cleanCache, cache);
    const d = dirsOf(cache);
    const state = () => ({ st: sha(d.st), json: sha(d.json) });
    const args = ['compute-directions', cache, '--holdout', '0.2'];
    // What an uninterrupted run writes here, then a previous, different pair (another held-out
    // fraction) that a crash must not corrupt.
    assert.equal(runCli(args, env).status, 0);
    const target = state();
    assert.equal(runCli(['compute-directions', cache, '--holdout', '0.3'], env).status, 0);
    const previous = state();
    assert.notDeepEqual(previous, target);

    const atFailpoint = (fp: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime/cli/main.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env, LAYERLAB_FAILPOINT: fp } });
    // Killed with both temporary files written but nothing renamed: the old pair stands.
    assert.equal(atFailpoint(`temp-written:${path.basename(d.json)}`).signal, 'SIGKILL');
    assert.deepEqual(state(), previous);
    // Killed between the renames: new directions beside old statistics. A reader refuses the
    // mix, naming both files, until the next run finishes the commit.
    assert.equal(atFailpoint('commit:renamed-0').signal, 'SIGKILL');
    assert.equal(sha(d.st), target.st);
    assert.equal(sha(d.json), previous.json);
    assert.throws(() => loadDirections(d.st), new RegExp(`${d.st} and ${d.json} come from different runs of compute-directions \\(one was interrupted\\): run compute-directions again`));
    // The next run finishes the interrupted commit first, even one that then refuses its input.
    const refused = runCli(['compute-directions', cache, '--holdout', '0.99'], env);
    assert.equal(refused.status, 1, refused.stderr);
    assert.deepEqual(state(), target, 'the interrupted commit was completed');
    assert.ok(!fs.existsSync(`${d.st}.commit`));
    assert.equal(runCli(['compute-directions', cache, '--holdout', '0.3'], env).status, 0);
    // Random moments.
    for (let k = 0; k < 4; k++) {
      const run = spawnCli(args);
      await new Promise((res) => setTimeout(res, 300 + Math.random() * 1500));
      run.child.kill('SIGKILL');
      await run.exited;
      // Without a journal the pair is consistent: the old one or the new one.
      const s = state();
      if (!fs.existsSync(`${d.st}.commit`)) {
        assert.ok((s.st === previous.st && s.json === previous.json) || (s.st === target.st && s.json === target.json), `after a kill: ${JSON.stringify(s)}`);
      }
    }
    const r = runCli(args, env);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(state(), target, 'the rerun writes exactly the uninterrupted pair');
    assert.deepEqual(leftovers(dir), [], 'no temporary file, journal or lock survives the rerun');
    loadDirections(d.st);
  });
});

describe('full and read-only disks', { skip: cannotMount }, () => {
  test('a disk that fills while caching: exit 1 naming the file and what to do; earlier output intact; after freeing space the run resumes to identical bytes', () => {
    // 160 KB: room for the partial cache (~100 KB) but not for assembling the final file too.
    const m = mountTmpfs(160, { populate: (dir) => fs.writeFileSync(path.join(dir, 'earlier-good-output.json'), JSON.stringify({ earlier: 'run' })) });
    try {
      const before = snapshotDir(m.dir);
      const out = path.join(m.dir, 'out');
      const r = runCli(saveArgs(out), env);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${cacheIn(out)}: no space left on the device \\(ENOSPC\\) while trying to write the (finished cache file|partial cache)\\. Free some space .*run the same command again\\. Choose a writable --output_path; a partial cache resumes where it stopped`));
      const after = snapshotDir(m.dir);
      assert.equal(after['earlier-good-output.json'], before['earlier-good-output.json'], 'earlier output unchanged');
      assert.ok(!Object.keys(after).some((f) => /\.tmp-\d+$/.test(f)), 'the failed temporary file gave its space back');
      spawnSync('mount', ['-o', 'remount,size=1m', m.dir]);
      const resumed = runCli(saveArgs(out), env);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.match(resumed.stderr, /resumed after 200 records/);
      assert.equal(sha(cacheIn(out)), sha(cleanCache));
    } finally {
      m.unmount();
    }
  });

  test('a disk full when writing directions: exit 1, the previous pair and nothing else', () => {
    const m = mountTmpfs(400, {
      populate: (dir) => {
        for (const f of [cleanCache, cleanDirs.st, cleanDirs.json]) fs.copyFileSync(f, path.join(dir, path.basename(f)));
      },
    });
    try {
      const cache = path.join(m.dir, path.basename(cleanCache));
      fs.writeFileSync(path.join(m.dir, 'filler'), Buffer.alloc(Math.max(0, fs.statfsSync(m.dir).bavail * fs.statfsSync(m.dir).bsize - 12288)));
      const before = snapshotDir(m.dir);
      const r = runCli(['compute-directions', cache, '--holdout', '0.3'], env);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /no space left on the device \(ENOSPC\) while trying to write the directions and their statistics\. .*The previous directions files are unchanged/);
      assert.deepEqual(snapshotDir(m.dir), before, 'both old files, no temporary file, no journal, no lock');
    } finally {
      m.unmount();
    }
  });

  test('a read-only output folder: exit 1, "read-only", the folder and the flag to change', () => {
    const m = mountTmpfs(256, { readOnly: true, populate: (dir) => fs.copyFileSync(cleanDirs.json, path.join(dir, 'earlier-good-output.json')) });
    try {
      const before = snapshotDir(m.dir);
      const r = runCli(saveArgs(path.join(m.dir, 'out')), env);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${m.dir}/out: the file system is read-only \\(EROFS\\), so LayerLab cannot .* there\\. Choose a location on a writable disk\\. Choose a writable --output_path`));
      assert.deepEqual(snapshotDir(m.dir), before);
    } finally {
      m.unmount();
    }
  });
});

describe('huge prompts and Ctrl-C', { skip: stories.skip }, () => {
  const storiesDir = path.join(root, 'stories');
  fs.mkdirSync(storiesDir, { recursive: true });
  const rec = (i: number, q: string) => ({ question_id: i, question: q, options: ['yes', 'no'], answer: 'A', answer_index: 0, category: 'story', memory_reason_score: i % 2 ? 0.9 : 0.1 });
  const prose = (n: number) => 'Once upon a time, there was a little girl named Lily. She liked to play outside. '.repeat(Math.ceil(n / 80)).slice(0, n);

  test('a 1 MB question: tokenized at once and refused before any work, naming the record and the flag', () => {
    const file = path.join(storiesDir, 'mb.json');
    fs.writeFileSync(file, JSON.stringify([rec(0, 'Lily'), rec(1, prose(1 << 20)), rec(2, 'Tom')]));
    const out = path.join(root, 'mb-out');
    const t0 = Date.now();
    const r = runCli(saveArgs(out, file, stories.path), env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /1 of 3 records have prompts longer than the model's context of 512 tokens: record 1 \(id 1, \d+ tokens\)\. Nothing was computed\. .*--on_long_prompt skip/);
    assert.deepEqual(filesUnder(out), [], 'nothing was written');
    assert.ok(Date.now() - t0 < 60_000);
  });

  test('Ctrl-C while a large dataset is tokenized: exit 130 within a second, nothing written', async () => {
    const file = path.join(storiesDir, 'big.json');
    fs.writeFileSync(file, JSON.stringify(Array.from({ length: 120 }, (_, i) => rec(i, prose(100_000)))));
    const out = path.join(root, 'sigint-out');
    const run = spawnCli(saveArgs(out, file, stories.path));
    await until(() => /caching \d+ hook points/.test(run.stderr()), 'tokenizing to start');
    await new Promise((res) => setTimeout(res, 300));
    const t0 = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    const ms = Date.now() - t0;
    assert.equal(code, 130, run.stderr());
    assert.match(run.stderr(), /layerlab save-hidden-states: cancelled/);
    assert.ok(ms < 1000, `exited ${ms} ms after SIGINT`);
    const cacheDir = path.join(out, 'stories260K');
    assert.deepEqual(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : [], [], 'no partial cache, no lock');
  });
});

describe('non-finite numbers', () => {
  test('a NaN weight: exit 1 naming the tensor and file; nothing cached', () => {
    const model = writeNonFiniteWeightModel(path.join(root, 'nan-model'), 'model.layers.0.self_attn.k_proj.weight', 70);
    const out = path.join(root, 'nan-weight-out');
    const r = runCli(saveArgs(out, data, model), env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${model}/model\\.safetensors: tensor model\\.layers\\.0\\.self_attn\\.k_proj\\.weight holds 1 non-finite value \\(the first, NaN, at \\[1, 6\\]\\)`));
    assert.deepEqual(filesUnder(out), []);
  });

  test('NaN hidden states: caching stops at the record, named; the batches before it stay for a resume', () => {
    const model = writeOverflowModel(path.join(root, 'overflow-model'), 0x7e);
    const file = path.join(root, 'tilde.json');
    const rows = JSON.parse(fs.readFileSync(data, 'utf8')) as { question: string }[];
    rows[13].question = `${rows[13].question} ~`;
    fs.writeFileSync(file, JSON.stringify(rows.slice(0, 40)));
    const out = path.join(root, 'nan-states-out');
    const r = runCli(saveArgs(out, file, model), env);
    assert.equal(r.status, 1, r.stderr);
    const cache = cacheIn(out, file, model);
    assert.match(r.stderr, new RegExp(`${cache}: record 13 \\(id 13\\), blocks\\.\\d\\.hook_resid_(pre|post): a non-finite value \\((NaN|-?Infinity)\\)`));
    assert.equal(JSON.parse(fs.readFileSync(path.join(`${cache}.partial`, 'progress.json'), 'utf8')).rowsDone, 8, 'the first batch (records 0–7) is committed');
    assert.ok(!fs.existsSync(cache));
  });

  test('a cache holding NaN: compute-directions exits 1 naming the record; the previous directions stay', () => {
    const dir = path.join(root, 'nan-cache');
    fs.mkdirSync(dir);
    const cache = path.join(dir, path.basename(cleanCache));
    const st = openSafetensors(cleanCache);
    const tensors = st.names.map((name) => {
      const t = st.read(name);
      if (name === 'blocks.1.hook_resid_post') t.data[5 * 64 + 9] = NaN;
      return { name, dtype: 'F32' as const, shape: t.dims, data: t.data };
    });
    writeSafetensors(cache, tensors, st.metadata);
    const d = dirsOf(cache);
    for (const [from, to] of [[cleanDirs.st, d.st], [cleanDirs.json, d.json]]) fs.copyFileSync(from, to);
    const before = snapshotDir(dir);
    const r = runCli(['compute-directions', cache, '--holdout', '0'], env);
    assert.equal(r.status, 1, r.stderr);
    const id = JSON.parse(st.metadata.record_ids)[5];
    assert.match(r.stderr, new RegExp(`${cache}: the direction at blocks\\.1\\.hook_resid_post is not finite: record 5 \\(id ${id}\\) holds NaN at dimension 9\\. .*No directions were written\\.`));
    assert.deepEqual(snapshotDir(dir), before);
  });

  test('--holdout 0.99 leaves too few of a label: exit 1 naming the flag and the counts; the previous directions stay', () => {
    const dir = path.join(root, 'one-class');
    fs.mkdirSync(dir);
    const cache = path.join(dir, path.basename(cleanCache));
    fs.copyFileSync(cleanCache, cache);
    assert.equal(runCli(['compute-directions', cache], env).status, 0);
    const before = snapshotDir(dir);
    const r = runCli(['compute-directions', cache, '--holdout', '0.99'], env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--holdout 0\.99 keeps 198 of the 200 labelled records out, leaving 1 reasoning and 1 memorization records to compute the directions from; at least 2 of each label are needed\. Lower --holdout, or cache more records\. No directions were written\./);
    assert.deepEqual(snapshotDir(dir), before);
  });
});

describe('dataset encodings', () => {
  const rows = Array.from({ length: 12 }, (_, i) => ({ question_id: i, question: `Plain ASCII question ${i}?`, options: ['yes', 'no'], answer: 'A', answer_index: 0, category: 'x', memory_reason_score: i % 2 ? 0.9 : 0.1 }));
  rows[7].question = 'Which café serves crème brûlée?';
  const text = JSON.stringify(rows, null, 1);

  test('a Latin-1 dataset: exit 1 naming the file, record, line and byte offset; nothing cached', () => {
    const file = path.join(root, 'latin1.json');
    fs.writeFileSync(file, Buffer.from(text, 'latin1'));
    const out = path.join(root, 'latin1-out');
    const r = runCli(saveArgs(out, file), env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${file} \\(record 7, line \\d+, column \\d+\\): is not valid UTF-8: byte offset ${Buffer.from(text, 'latin1').indexOf(0xe9)} holds 0xE9 .*\\(the file looks like Latin-1`));
    assert.deepEqual(filesUnder(out), []);
  });

  test('a UTF-16 dataset: exit 1 naming the encoding; nothing cached', () => {
    const file = path.join(root, 'utf16.json');
    fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    const out = path.join(root, 'utf16-out');
    const r = runCli(saveArgs(out, file), env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${file}: is encoded as UTF-16 \\(little-endian, with a byte-order mark\\)\\. LayerLab reads datasets as UTF-8`));
    assert.deepEqual(filesUnder(out), []);
  });
});

test('a 40 KB command line with telemetry on (the built CLI): no segmentation fault', () => {
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const cli = path.join(ROOT, 'dist', 'cli.js');
  const { ORT_DISABLE_TELEMETRY: _, ...noTelemetryFlag } = process.env;
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...noTelemetryFlag, ...env, HOME: root } });
  const long = 'a'.repeat(40_000);
  const prompt = run(['generate', '--model', demoModel, '--prompt', long, '--max_new_tokens', '1']);
  assert.equal(prompt.signal, null, `killed by ${prompt.signal}`);
  assert.equal(prompt.status, 1, prompt.stderr);
  assert.match(prompt.stderr, /prompt 0 has 40001 tokens, longer than the model's context of 4096/);
  const stop = run(['generate', '--model', demoModel, '--prompt', 'Once', '--stop', long, '--max_new_tokens', '2', '--json']);
  assert.equal(stop.status, 0, `${stop.signal ?? ''} ${stop.stderr}`);
  assert.ok(JSON.parse(stop.stdout).ids.length > 5, 'generated after the 5 prompt ids');
});

test('no lock is left behind by any of the runs above', () => {
  const locks: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.endsWith('.lock') || e.name.includes('.lock.')) locks.push(path.join(d, e.name));
      else if (e.isDirectory() && !e.name.startsWith('layerlab-mount')) walk(path.join(d, e.name));
    }
  };
  walk(root);
  assert.deepEqual(locks, []);
});
