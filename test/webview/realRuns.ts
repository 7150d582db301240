/**
 * Real run files for the webview tests, produced by the runtime on the demo model through the
 * `layerlab` CLI (the same commands a user runs): save-hidden-states → compute-directions →
 * sweep / evaluate. Two demo models (seeds 0 and 7) give two runs to compare; the evaluate run
 * scores by generation so items carry generated text for the side-by-side view. The sweeps
 * score by option log-probability, so the random demo model's accuracies vary between layers
 * and settings instead of all being 0.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoDataset } from '../../datasets/demo';
import { writeDemoModel } from '../../models/demo';
import { runCli } from '../helpers/cli';

const ROOT = path.resolve(__dirname, '..', '..');

export interface RealRuns {
  dir: string;
  /** Sweep of model A: 4 layers × scales {−4, 4} × α {0, 2}, baseline, one random control each; 24 records. */
  sweepA: string;
  /** Sweep of model B (another demo seed): 4 layers × scales {−4, 4}. */
  sweepB: string;
  /** Evaluate of model A with generation at layer 1 and the baseline. */
  evaluateA: string;
  /** compute-directions statistics of model A's cache. */
  directionsA: string;
  /** The argv of each CLI call, for messages. */
  commands: string[];
}

function cli(args: string[], env: Record<string, string>, commands: string[]): string {
  commands.push(`layerlab ${args.join(' ')}`);
  const r = runCli(args, env);
  if (r.status !== 0) throw new Error(`layerlab ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** The CLI as a child process, without blocking: the three evaluations run side by side. */
function cliAsync(args: string[], env: Record<string, string>, commands: string[]): Promise<void> {
  commands.push(`layerlab ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    // A hung evaluation fails the test with its log instead of stalling the tier.
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`layerlab ${args.join(' ')} ${signal ? `killed (${signal}, over 300 s)` : `exited ${code}`}:\n${stderr}`));
    });
  });
}

export interface DemoSetup {
  model: string;
  cache: string;
  /** compute-directions' statistics file. */
  stats: string;
  data: string;
}

/** A 4-block demo model, the demo dataset's 60 records cached at every block, and directions. */
export function prepareDemo(dir: string, name: string, seed: number, commands: string[] = []): DemoSetup {
  const env = { LAYERLAB_CACHE_DIR: path.join(dir, 'graph-cache') };
  const data = path.join(dir, 'demo-data.json');
  if (!fs.existsSync(data)) writeDemoDataset(data, { n: 60, seed: 1 });
  const model = writeDemoModel(path.join(dir, 'models', name), { nLayers: 4, seed }).dir;
  const cache = cli(['save-hidden-states', '--model', model, '--data_file_path', data, '--data_name', 'demo', '--output_path', path.join(dir, 'hs'), '--data_batch_size', '8'], env, commands).trim();
  const out = cli(['compute-directions', cache, '--holdout', '0.25'], env, commands);
  const stats = /^statistics: (.+)$/m.exec(out)?.[1]?.trim();
  if (!stats || !fs.existsSync(stats)) throw new Error(`compute-directions did not name its statistics file:\n${out}`);
  return { model, cache, stats, data };
}

export async function makeRealRuns(dir: string): Promise<RealRuns> {
  const env = { LAYERLAB_CACHE_DIR: path.join(dir, 'graph-cache') };
  const commands: string[] = [];
  const a = prepareDemo(dir, 'demo-a', 0, commands);
  const b = prepareDemo(dir, 'demo-b', 7, commands);
  const runs = path.join(dir, 'runs');
  const common = (m: DemoSetup) => ['--model', m.model, '--data_file', m.data, '--hidden_states_cache_path', m.cache, '--split', 'overlap', '--batch_size', '8'];
  const sweepA = path.join(runs, 'demo-a', 'demo.sweep.json');
  const sweepB = path.join(runs, 'demo-b', 'demo.sweep.json');
  const evaluateA = path.join(runs, 'demo-a', 'demo.evaluate.json');
  await Promise.all([
    cliAsync(['sweep', ...common(a), '--scales', '-4', '4', '--alphas', '0', '2', '--sample_size', '24', '--scoring', 'loglik', '--out', sweepA], env, commands),
    cliAsync(['sweep', ...common(b), '--scales', '-4', '4', '--sample_size', '24', '--scoring', 'loglik', '--out', sweepB], env, commands),
    cliAsync(['evaluate', ...common(a), '--with_intervention', '--layer_indices', '1', '--scale', '4', '--with_baseline', '--sample_size', '16', '--max_new_tokens', '12', '--out', evaluateA], env, commands),
  ]);
  return { dir, sweepA, sweepB, evaluateA, directionsA: a.stats, commands };
}
