/**
 * Evaluate and sweep resume like caching does: killed with SIGKILL at random moments (or stopped
 * with Ctrl-C), the same command continues from the last finished batch, and the final run file
 * equals an uninterrupted run's apart from timings.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoDataset } from '../../datasets';
import { writeDemoModel } from '../../models/demo';
import { withoutTiming } from '../../runtime/evaluate';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const root = tmpDir('layerlab-eval-resume-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'graphs') };
const model = writeDemoModel(path.join(root, 'demo')).dir;
const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;
const data = path.join(root, 'qa.json');
writeDemoDataset(data, { n: 60, seed: 0 });
const cache = path.join(root, 'hs', 'demo', 'qa.safetensors');

/**
 * Runs the CLI and sends `signal` once the run file it checkpoints after every batch says `after`
 * items are done (its progress lines are throttled, so they may jump past the point); resolves
 * with the exit.
 */
function runUntil(args: string[], after: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const out = args[args.indexOf('--out') + 1]!;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, ORT_DISABLE_TELEMETRY: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const started = Date.now();
  const poll = setInterval(() => {
    let done = -1;
    try {
      const run = read(out);
      // A file left by an earlier (killed) run is not this run's progress until this run wrote it.
      if (fs.statSync(out).mtimeMs >= started) done = run.progress.done;
    } catch {
      // not written yet
    }
    if (done >= after) {
      clearInterval(poll);
      child.kill(signal);
    }
  }, 5);
  return new Promise((r) =>
    child.once('exit', (code, sig) => {
      clearInterval(poll);
      r({ code, signal: sig, stderr });
    }),
  );
}

const base = (command: 'evaluate' | 'sweep', out: string) => [
  command, '--model', model, '--data_file', data, '--split', 'overlap', '--sample_size', '24', '--batch_size', '2', '--max_new_tokens', '6',
  '--checkpoint_seconds', '0.001', '--out', out,
  ...(command === 'evaluate' ? ['--with_baseline'] : ['--layer_indices', '0', '1', '--scales', '2', '--random_controls', '0']),
  '--hidden_states_cache_path', cache,
  ...(command === 'evaluate' ? ['--with_intervention', '--layer_indices', '1', '--scale', '3'] : []),
];

describe('evaluate and sweep resume after a crash or a cancel', () => {
  test('setup: a cache to take directions from', () => {
    const r = runCli(['save-hidden-states', '--model', model, '--data_file_path', data, '--output_path', path.join(root, 'hs')], env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), cache);
  });

  for (const command of ['evaluate', 'sweep'] as const) {
    test(`${command}: SIGKILL three times at random moments, then the same command finishes a file equal to an uninterrupted run's`, async () => {
      const out = path.join(root, `${command}.json`);
      const clean = runCli(base(command, out), env);
      assert.equal(clean.status, 0, clean.stderr);
      const cleanRun = read(out);
      fs.renameSync(out, `${out}.clean`);
      const total = cleanRun.progress.total;

      // Kill points spread over the run, so they fall in different interventions.
      const points = [0.2, 0.45, 0.7].map((f) => Math.floor(total * (f + 0.1 * Math.random())));
      let kept = 0;
      let last: RunFile | undefined;
      for (const p of points) {
        const r = await runUntil(base(command, out), p, 'SIGKILL');
        assert.equal(r.signal, 'SIGKILL', `killed (${command} at ${p}): ${r.stderr.slice(-300)}`);
        const partial = read(out);
        assert.equal(partial.complete, false);
        assert.ok(partial.progress.done >= kept, 'a resumed run never loses what an earlier one finished');
        kept = partial.progress.done;
        last = partial;
      }
      assert.ok(kept > 0 && kept < total, `work was kept between kills (${kept}/${total})`);

      const resumed = runCli(base(command, out), env);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.match(resumed.stderr, new RegExp(`resuming .*: \\d+ intervention\\(s\\) finished, ${kept} item\\(s\\) kept`));
      // It started where the last killed run stopped: the work already done was not repeated.
      assert.match(resumed.stderr, new RegExp(`^${command}: ${kept}/${total} \\(\\d+%\\)`, 'm'));
      assert.equal(resumed.stdout, clean.stdout, "the seed's lines are the same");
      const final = read(out);
      assert.deepEqual(withoutTiming(final), withoutTiming(cleanRun));
      // Interventions finished before the last kill were kept as they were, not run again (their
      // timings are the ones the killed run wrote).
      const finished = last!.results.filter((r) => r.complete !== false);
      for (const [k, r] of finished.entries()) assert.equal(final.results[k]!.seconds, r.seconds, `${r.intervention.id} kept`);
    });
  }

  test('Ctrl-C: exit 130 with a partial file, and the same command completes it', async () => {
    const out = path.join(root, 'cancelled.json');
    const r = await runUntil(base('evaluate', out), 10, 'SIGINT');
    assert.equal(r.code, 130, r.stderr);
    assert.equal(read(out).complete, false);
    const resumed = runCli(base('evaluate', out), env);
    assert.equal(resumed.status, 0, resumed.stderr);
    // The uninterrupted run of the first test wrote to another --out: only that part of argv differs.
    const clean = read(path.join(root, 'evaluate.json.clean'));
    clean.spec.argv = clean.spec.argv.map((a) => (a.endsWith('evaluate.json') ? out : a));
    assert.deepEqual(withoutTiming(read(out)), withoutTiming(clean));
  });

  test('a partial file of another experiment at that path is not mixed in: the run starts afresh', () => {
    const out = path.join(root, 'other.json');
    const r = runCli([...base('evaluate', out).slice(0, -2), '--scale', '3'], env);
    assert.equal(r.status, 0, r.stderr);
    const first = read(out);
    fs.writeFileSync(out, JSON.stringify({ ...first, complete: false, spec: { ...first.spec, seed: 99 } }));
    const again = runCli([...base('evaluate', out).slice(0, -2), '--scale', '3'], env);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /holds another experiment; starting afresh/);
    assert.deepEqual(withoutTiming(read(out)), withoutTiming(first));
  });
});
